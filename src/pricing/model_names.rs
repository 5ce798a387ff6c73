//! The names the AWS Price List gives models → Bedrock model ids.
//!
//! Price List products never carry the Bedrock model id: AmazonBedrock rows have a display
//! `model` ("Qwen3 32B") and a usage-type fragment ("Qwen3-32B", or "qwen.qwen3-32b" in
//! mantle usage types); AmazonBedrockFoundationModels rows only a `servicename` ("Claude
//! Sonnet 4.6 (Amazon Bedrock Edition)"). Two sources settle them:
//!
//! 1. an explicit table (`config/model-names.toml`, shipped and built in; users may add their
//!    own), which always wins for the names it lists;
//! 2. Bedrock's own model list (`ListFoundationModels` in a region: `modelId` + `modelName`),
//!    matched by exact name, per region.
//!
//! A name both leave open is *unknown*; a name that fits several ids is *ambiguous*; names of
//! one product that point at different ids *disagree*. All three are reported, never guessed:
//! a too-broad match would price the wrong model (Mistral Large 3 vs the legacy Mistral
//! Large are 8 × apart).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Deserialize;

use super::pricelist::ModelNames;
use super::{PricingError, Problem};

/// The shipped mapping table.
const BUILTIN_MODEL_NAMES: &str = include_str!("../../config/model-names.toml");

/// The suffix AmazonBedrockFoundationModels puts on every `servicename`.
const EDITION_SUFFIX: &str = "(amazon bedrock edition)";

/// One model of Bedrock's `ListFoundationModels` answer in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundationModel {
    pub region: String,
    pub model_id: String,
    pub model_name: String,
    pub provider: String,
}

/// Why a product's names map to no single model id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unmapped {
    /// Neither the mapping table nor Bedrock's model list knows any of its names.
    Unknown,
    /// A name fits several model ids.
    Ambiguous { name: String, ids: Vec<String> },
    /// Its names point at different model ids.
    Disagree { ids: Vec<String> },
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unmapped::Unknown => f.write_str(
                "no model id known for this name (add it to a model-names table, or sync with Bedrock's model list)",
            ),
            Unmapped::Ambiguous { name, ids } => {
                write!(f, "{name:?} fits several model ids: {}", ids.join(", "))
            }
            Unmapped::Disagree { ids } => {
                write!(f, "its names point at different model ids: {}", ids.join(", "))
            }
        }
    }
}

/// The explicit table and, per region, Bedrock's model list.
#[derive(Debug, Clone, Default)]
pub struct ModelNameMap {
    /// Normalized display name or servicename → model id.
    names: HashMap<String, String>,
    /// Normalized usage-type fragment → model id.
    usage_types: HashMap<String, String>,
    /// Region → normalized `modelName` → model ids (usually one).
    foundation_names: HashMap<String, HashMap<String, BTreeSet<String>>>,
    /// Region → model ids Bedrock lists there.
    foundation_ids: HashMap<String, BTreeSet<String>>,
    /// Every model id the explicit tables name.
    known_ids: BTreeSet<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    model: Vec<TableEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableEntry {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    usage_types: Vec<String>,
}

impl ModelNameMap {
    /// The built-in table (`config/model-names.toml`).
    pub fn builtin() -> Result<ModelNameMap, PricingError> {
        let mut map = ModelNameMap::default();
        map.add_table(BUILTIN_MODEL_NAMES, "built-in config/model-names.toml")?;
        Ok(map)
    }

    /// Adds a mapping table (TOML `[[model]]` entries with `id`, `names`, `usage_types`).
    /// Its entries override earlier tables' for the same name; within one table a name may
    /// map to one id only.
    pub fn add_table(&mut self, text: &str, origin: &str) -> Result<(), PricingError> {
        let invalid = |problems| PricingError::Invalid {
            origin: origin.to_string(),
            problems,
        };
        let file: TableFile = toml::from_str(text).map_err(|error| {
            invalid(vec![Problem {
                key: "model".into(),
                message: error.message().to_string(),
                line: error
                    .span()
                    .map(|span| text[..span.start].lines().count().max(1)),
            }])
        })?;
        let mut problems = Vec::new();
        let mut names = HashMap::<String, String>::new();
        let mut usage_types = HashMap::<String, String>::new();
        for (index, entry) in file.model.iter().enumerate() {
            let at = format!("model[{}]", index + 1);
            if entry.id.trim().is_empty() || entry.id.contains(char::is_whitespace) {
                problems.push(problem(
                    &at,
                    "id",
                    format!("{:?} is not a model id", entry.id),
                ));
                continue;
            }
            for (kind, list, target) in [
                ("names", &entry.names, &mut names),
                ("usage_types", &entry.usage_types, &mut usage_types),
            ] {
                for name in list {
                    let key = normalize(name);
                    if key.is_empty() {
                        problems.push(problem(&at, kind, "an empty name".into()));
                        continue;
                    }
                    match target.get(&key) {
                        Some(other) if other != &entry.id => problems.push(problem(
                            &at,
                            kind,
                            format!("{name:?} is already mapped to {other}; a name maps to one id"),
                        )),
                        _ => {
                            target.insert(key, entry.id.clone());
                        }
                    }
                }
            }
            self.known_ids.insert(entry.id.clone());
        }
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        self.names.extend(names);
        self.usage_types.extend(usage_types);
        Ok(())
    }

    /// Adds Bedrock's model list of a region. Provisioned-only variants (`…:0:48k`) are
    /// left out: they share their base model's name and are not priced per token.
    pub fn add_foundation_models(&mut self, models: &[FoundationModel]) {
        for model in models {
            if model.model_id.matches(':').count() > 1 {
                continue;
            }
            self.foundation_names
                .entry(model.region.clone())
                .or_default()
                .entry(normalize(&model.model_name))
                .or_default()
                .insert(model.model_id.clone());
            self.foundation_ids
                .entry(model.region.clone())
                .or_default()
                .insert(model.model_id.clone());
        }
    }

    /// Model ids named by the explicit tables.
    pub fn known_ids(&self) -> impl Iterator<Item = &str> {
        self.known_ids.iter().map(String::as_str)
    }

    /// The model id a product's names mean in `region`.
    pub fn resolve(&self, region: &str, names: &ModelNames) -> Result<String, Unmapped> {
        let mut definite = BTreeSet::<String>::new();
        let mut ambiguous: Option<(String, Vec<String>)> = None;
        let mut note = |name: &str, found: Found| match found {
            Found::One(id) => {
                definite.insert(id);
            }
            Found::Several(ids) => {
                ambiguous.get_or_insert((name.to_string(), ids));
            }
            Found::None => {}
        };
        if let Some(display) = &names.display {
            note(display, self.by_name(region, display));
        }
        if let Some(service_name) = &names.service_name {
            note(service_name, self.by_name(region, service_name));
        }
        if let Some(fragment) = &names.usage_type {
            note(fragment, self.by_usage_type(region, fragment));
        }
        match definite.len() {
            1 => Ok(definite.into_iter().next().unwrap_or_default()),
            0 => match ambiguous {
                Some((name, ids)) => Err(Unmapped::Ambiguous { name, ids }),
                None => Err(Unmapped::Unknown),
            },
            _ => Err(Unmapped::Disagree {
                ids: definite.into_iter().collect(),
            }),
        }
    }

    fn by_name(&self, region: &str, name: &str) -> Found {
        let key = normalize(name);
        if let Some(id) = self.names.get(&key) {
            return Found::One(id.clone());
        }
        let ids = self
            .foundation_names
            .get(region)
            .and_then(|names| names.get(&key));
        Found::from_set(ids)
    }

    /// An explicit fragment, or a mantle fragment that is a model id without its version
    /// (`qwen.qwen3-32b` → the one listed id `qwen.qwen3-32b-v1:0`).
    fn by_usage_type(&self, region: &str, fragment: &str) -> Found {
        let key = normalize(fragment);
        if let Some(id) = self.usage_types.get(&key) {
            return Found::One(id.clone());
        }
        if !fragment.contains('.') {
            return Found::None;
        }
        let Some(ids) = self.foundation_ids.get(region) else {
            return Found::None;
        };
        let matching: BTreeSet<String> = ids
            .iter()
            .filter(|id| {
                let id = id.to_lowercase();
                id == key || is_versioned(&id, &key)
            })
            .cloned()
            .collect();
        Found::from_set(Some(&matching))
    }
}

/// `qwen.qwen3-32b-v1:0` is `qwen.qwen3-32b` with a version: `-v<digits>` and an optional
/// `:<digits>`, nothing else.
fn is_versioned(id: &str, base: &str) -> bool {
    let Some(version) = id
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix("-v"))
    else {
        return false;
    };
    let (major, minor) = version.split_once(':').unwrap_or((version, "0"));
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

enum Found {
    One(String),
    Several(Vec<String>),
    None,
}

impl Found {
    fn from_set(ids: Option<&BTreeSet<String>>) -> Found {
        match ids.map(|ids| ids.iter().cloned().collect::<Vec<_>>()) {
            Some(ids) if ids.len() == 1 => Found::One(ids.into_iter().next().unwrap_or_default()),
            Some(ids) if ids.len() > 1 => Found::Several(ids),
            _ => Found::None,
        }
    }
}

/// Lower case, runs of whitespace as one space, and no "(Amazon Bedrock Edition)" suffix.
pub fn normalize(name: &str) -> String {
    let collapsed = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    match collapsed.strip_suffix(EDITION_SUFFIX) {
        Some(base) => base.trim_end().to_string(),
        None => collapsed,
    }
}

fn problem(at: &str, key: &str, message: String) -> Problem {
    Problem {
        key: format!("{at}.{key}"),
        message,
        line: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(
        display: Option<&str>,
        service_name: Option<&str>,
        fragment: Option<&str>,
    ) -> ModelNames {
        ModelNames {
            display: display.map(str::to_string),
            service_name: service_name.map(str::to_string),
            usage_type: fragment.map(str::to_string),
        }
    }

    fn table(text: &str) -> ModelNameMap {
        let mut map = ModelNameMap::default();
        map.add_table(text, "test").expect("valid table");
        map
    }

    fn fm(region: &str, id: &str, name: &str) -> FoundationModel {
        FoundationModel {
            region: region.into(),
            model_id: id.into(),
            model_name: name.into(),
            provider: "Test".into(),
        }
    }

    #[test]
    fn explicit_names_match_every_spelling() {
        let map = table(
            r#"
            [[model]]
            id = "amazon.nova-2-lite-v1:0"
            names = ["Nova 2 Lite", "Nova 2.0 Lite"]
            usage_types = ["Nova2.0Lite"]

            [[model]]
            id = "anthropic.claude-sonnet-4-6"
            names = ["Claude Sonnet 4.6"]
            "#,
        );
        let id = |n: ModelNames| map.resolve("us-west-2", &n);
        assert_eq!(
            id(names(Some("nova  2.0 LITE"), None, None)),
            Ok("amazon.nova-2-lite-v1:0".into())
        );
        assert_eq!(
            id(names(None, None, Some("Nova2.0Lite"))),
            Ok("amazon.nova-2-lite-v1:0".into())
        );
        assert_eq!(
            id(names(
                None,
                Some("Claude Sonnet 4.6 (Amazon Bedrock Edition)"),
                None
            )),
            Ok("anthropic.claude-sonnet-4-6".into())
        );
        assert_eq!(
            id(names(Some("Nova Pro"), None, Some("NovaPro"))),
            Err(Unmapped::Unknown)
        );
        assert_eq!(
            id(names(
                Some("Nova 2 Lite"),
                Some("Claude Sonnet 4.6 (Amazon Bedrock Edition)"),
                None
            )),
            Err(Unmapped::Disagree {
                ids: vec![
                    "amazon.nova-2-lite-v1:0".into(),
                    "anthropic.claude-sonnet-4-6".into()
                ]
            })
        );
    }

    #[test]
    fn bedrock_model_list_settles_exact_names_per_region_only() {
        let mut map = ModelNameMap::default();
        map.add_foundation_models(&[
            fm("us-east-1", "qwen.qwen3-32b-v1:0", "Qwen3 32B"),
            fm(
                "us-east-1",
                "mistral.mistral-large-2402-v1:0",
                "Mistral Large (24.02)",
            ),
            fm(
                "us-east-1",
                "mistral.mistral-large-3-v1:0",
                "Mistral Large 3",
            ),
            fm(
                "us-east-1",
                "anthropic.claude-3-haiku-20240307-v1:0",
                "Claude 3 Haiku",
            ),
            fm(
                "us-east-1",
                "anthropic.claude-3-haiku-20240307-v1:0:48k",
                "Claude 3 Haiku",
            ),
            fm("us-east-1", "meta.llama-a-v1:0", "Llama Twin"),
            fm("us-east-1", "meta.llama-b-v1:0", "Llama Twin"),
        ]);
        let id = |region: &str, n: ModelNames| map.resolve(region, &n);
        assert_eq!(
            id("us-east-1", names(Some("Qwen3 32B"), None, None)),
            Ok("qwen.qwen3-32b-v1:0".into())
        );
        // The provisioned-only variant shares the name but is not a candidate.
        assert_eq!(
            id("us-east-1", names(Some("Claude 3 Haiku"), None, None)),
            Ok("anthropic.claude-3-haiku-20240307-v1:0".into())
        );
        // Mantle fragments are model ids without their version.
        assert_eq!(
            id("us-east-1", names(None, None, Some("qwen.qwen3-32b"))),
            Ok("qwen.qwen3-32b-v1:0".into())
        );
        // No fuzzy matching: "Mistral Large" is neither "Mistral Large 3" nor the legacy one.
        assert_eq!(
            id("us-east-1", names(Some("Mistral Large"), None, None)),
            Err(Unmapped::Unknown)
        );
        assert_eq!(
            id(
                "us-east-1",
                names(None, None, Some("mistral.mistral-large"))
            ),
            Err(Unmapped::Unknown)
        );
        // Another region's list does not count.
        assert_eq!(
            id("eu-west-1", names(Some("Qwen3 32B"), None, None)),
            Err(Unmapped::Unknown)
        );
        assert_eq!(
            id("us-east-1", names(Some("Llama Twin"), None, None)),
            Err(Unmapped::Ambiguous {
                name: "Llama Twin".into(),
                ids: vec!["meta.llama-a-v1:0".into(), "meta.llama-b-v1:0".into()]
            })
        );
    }

    #[test]
    fn explicit_table_wins_over_the_model_list() {
        let mut map =
            table("[[model]]\nid = \"deepseek.r1-v1:0\"\nnames = [\"R1\", \"DeepSeek-R1\"]\n");
        map.add_foundation_models(&[fm("us-east-1", "deepseek.other-v1:0", "DeepSeek-R1")]);
        assert_eq!(
            map.resolve("us-east-1", &names(Some("DeepSeek-R1"), None, None)),
            Ok("deepseek.r1-v1:0".into())
        );
    }

    #[test]
    fn a_table_mapping_one_name_to_two_ids_is_refused() {
        let mut map = ModelNameMap::default();
        let error = map
            .add_table(
                "[[model]]\nid = \"a.one-v1:0\"\nnames = [\"Same\"]\n[[model]]\nid = \"a.two-v1:0\"\nnames = [\"same\"]\n",
                "bad.toml",
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains("bad.toml: model[2].names"), "{error}");
        assert!(error.contains("already mapped to a.one-v1:0"), "{error}");
        let error = map
            .add_table("[[model]]\nname = 3\n", "worse.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("worse.toml"), "{error}");
    }

    #[test]
    fn builtin_table_loads() {
        let map = ModelNameMap::builtin().expect("the shipped table is valid");
        assert!(map.known_ids().count() > 20);
    }
}
