//! The `tierwatch` binary: parses the command line, sets up logging, runs the command.

use std::process::ExitCode;

use clap::Parser;
use tierwatch::cli::Cli;

fn main() -> ExitCode {
    return_large_allocations_to_the_system();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tierwatch::commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Makes glibc serve every allocation of 1 MiB or more with its own mapping, returned to the
/// system when freed. By default glibc raises that threshold as large blocks are freed (up to
/// 32 MiB), after which a batch's big buffers (statement parameters, rollup maps) are carved
/// from the heap and their pages stay resident between batches: a Postgres import of 1M
/// records peaked at 131 MiB RSS before, 106 MiB with this threshold (batches of 2,000: 79.5
/// → 75 MiB). 128 KiB saved more but cost SQLite imports 5 s of page faults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_allocations_to_the_system() {
    const THRESHOLD_BYTES: libc::c_int = 1024 * 1024;
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread
    // exists. A zero return (option refused) leaves glibc's defaults, which is harmless.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD_BYTES);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_allocations_to_the_system() {}
