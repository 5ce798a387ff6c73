//! `tierwatch discover`: asks Bedrock where each region's invocation logs go and prints the
//! `[[sources]]` entries that read them, or adds them to the config file with `--write`.
//!
//! It runs without loading the config (a new user has none yet); `--write` reads the file it
//! adds to, skips what is already configured, and checks the result with the config parser
//! before touching the file, so a written config loads as it is.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{exit_code, outln};
use crate::config::{Config, DEFAULT_CONFIG_PATH, DaemonConfig, ProcessEnvironment};
use crate::discover::{self, Access, RegionPlan, SourceEntry};

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Regions to ask, comma-separated or repeated (e.g. us-east-1,eu-west-1).
    #[arg(long, required = true, value_delimiter = ',', value_name = "REGION", value_parser = region_code)]
    pub regions: Vec<String>,
    /// Add the entries to the config file (--config FILE, else config/tierwatch.toml, created
    /// when missing) instead of printing them. Sources already configured are left alone.
    #[arg(long)]
    pub write: bool,
    /// A role to assume (from the standard credential chain's identity); the entries assume
    /// it too.
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// The external id the role's trust policy asks for.
    #[arg(long, value_name = "ID", requires = "role_arn")]
    pub external_id: Option<String>,
    /// Override of the AWS endpoints (a local stand-in); the entries use it too.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// A region code as typed, lower-cased; anything but letters, digits and dashes is refused
/// here rather than sent to AWS as a host name.
fn region_code(text: &str) -> Result<String, String> {
    let region = text.trim().to_ascii_lowercase();
    let valid = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Ok(region)
    } else {
        Err(format!(
            "expected a region code such as us-east-1, got {text:?}"
        ))
    }
}

pub async fn run(config_file: Option<&Path>, args: &DiscoverArgs) -> Result<ExitCode> {
    let mut regions = args.regions.clone();
    dedup_keeping_order(&mut regions);
    let access = Access {
        endpoint_url: args.endpoint_url.clone(),
        role_arn: args.role_arn.clone(),
        external_id: args.external_id.clone(),
    };
    let answers = discover::ask(&regions, &access, DaemonConfig::default().max_attempts).await;
    let account = answers.account.as_ref().ok().cloned();
    let plans = discover::plan(&answers, &access);
    for plan in plans.iter().filter(|plan| plan.failed) {
        eprintln!("error: {}: {}", plan.region, plan.finding);
    }
    if args.write {
        let path =
            config_file.map_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH), Path::to_path_buf);
        write(&path, &plans, account.as_deref())?;
    } else {
        print(&plans, account.as_deref());
    }
    Ok(exit_code(plans.iter().all(|plan| !plan.failed)))
}

fn dedup_keeping_order(regions: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    regions.retain(|region| seen.insert(region.clone()));
}

/// The first lines of what is printed or written.
fn header(account: Option<&str>, action: &str) -> String {
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let account = account.map_or_else(String::new, |account| format!(" for account {account}"));
    discover::comment(&format!(
        "Sources found by `tierwatch discover` on {today}{account}. {action} Every other \
         setting is described in config/tierwatch.example.toml."
    ))
}

/// Prints every region's entry (or why it has none) as TOML to paste.
fn print(plans: &[RegionPlan], account: Option<&str>) {
    let mut text = header(
        account,
        "Paste them into the config file, or run discover again with --write.",
    );
    for plan in plans {
        text.push('\n');
        text.push_str(&plan.to_toml());
    }
    super::write_stdout(&text);
}

/// Appends the new entries to the config file at `path`, then says what happened per region.
fn write(path: &Path, plans: &[RegionPlan], account: Option<&str>) -> Result<()> {
    let existing = read_existing(path)?;
    let configured =
        match &existing {
            Some(text) => Config::from_toml(text, Some(path), &ProcessEnvironment)
                .map_err(|errors| {
                    anyhow::anyhow!(
                        "{} has problems; fix them first (tierwatch check-config), or run discover \
                     without --write and paste the entries:\n{errors}",
                        path.display()
                    )
                })?
                .sources,
            None => Vec::new(),
        };
    let mut added = String::new();
    let mut added_names = Vec::new();
    let mut report = Vec::new();
    for plan in plans {
        let entry = plan.entry.as_ref();
        let duplicate = entry.and_then(|entry| discover::already_configured(entry, &configured));
        report.push(match (entry, duplicate) {
            (Some(_), Some(source)) => format!(
                "{}: already configured as source {:?}; left as it is.",
                plan.region, source.name
            ),
            (Some(entry), None) => {
                added.push('\n');
                added.push_str(&plan.to_toml());
                added_names.push(entry.name.clone());
                format!(
                    "{}: added source {:?} ({}).",
                    plan.region,
                    entry.name,
                    reads(entry)
                )
            }
            (None, _) if plan.failed => {
                format!("{}: nothing added (not asked, see the error).", plan.region)
            }
            (None, _) => format!("{}: nothing added: {}.", plan.region, plan.finding),
        });
        report.extend(
            plan.warnings
                .iter()
                .map(|warning| format!("  warning: {warning}")),
        );
    }
    if !added_names.is_empty() {
        let block = header(account, "Added to this file.") + &added;
        append_checked(path, existing.as_deref(), &block)?;
    }
    for line in report {
        outln!("{line}");
    }
    if added_names.is_empty() {
        outln!("Nothing to add to {}.", path.display());
    } else {
        outln!(
            "Wrote {} source(s) to {}. Next: tierwatch --config {} poll --once",
            added_names.len(),
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// What an entry reads, in a few words.
fn reads(entry: &SourceEntry) -> String {
    let mut parts = Vec::new();
    if let Some(group) = &entry.log_group {
        parts.push(format!("CloudWatch Logs {group}"));
    }
    if let Some(uri) = &entry.s3_uri {
        parts.push(uri.to_string());
    }
    if entry.reads_metrics_and_quotas() {
        parts.push("metrics and quotas".into());
    }
    parts.join(", ")
}

/// The config file's text, or `None` when there is none yet.
fn read_existing(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Appends `block` to the file, after checking that the file with it still loads. Appending
/// (rather than rewriting) keeps the user's text, comments and file permissions as they are.
fn append_checked(path: &Path, existing: Option<&str>, block: &str) -> Result<()> {
    let mut addition = String::new();
    if existing.is_some_and(|text| !text.is_empty() && !text.ends_with('\n')) {
        addition.push('\n');
    }
    if existing.is_some_and(|text| !text.trim().is_empty()) {
        addition.push('\n');
    }
    addition.push_str(block);
    let combined = format!("{}{addition}", existing.unwrap_or_default());
    if let Err(errors) = Config::from_toml(&combined, Some(path), &ProcessEnvironment) {
        bail!(
            "the new entries would not load, so {} is left unchanged:\n{errors}",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the directory {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(addition.as_bytes())
        .and_then(|()| file.flush())
        .with_context(|| format!("writing {}", path.display()))
}
