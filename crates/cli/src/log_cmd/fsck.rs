//! `signet log fsck`: check a whole log against its signed checkpoint (see
//! the fsck section of crates/log/README.md).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use signet_log::fsck::{fsck, FsckConfig, FsckError};
use signet_log::monitor::alert::{EXIT_ERROR, EXIT_LOG_MISBEHAVIOUR, EXIT_USAGE};
use signet_log::monitor::parse_duration;

use super::monitor::LogKeyArgs;

#[derive(Args)]
pub struct FsckArgs {
    /// The log's tiles URL (where `/checkpoint` and `/tile/…` are).
    url: String,
    #[command(flatten)]
    key: LogKeyArgs,
    /// Entry bundles fetched at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Timeout of each HTTP request.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
}

pub fn run(args: FsckArgs) -> ExitCode {
    let policy = match args.key.policy(&args.url) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("signet: log fsck: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let config = FsckConfig {
        url: args.url.clone(),
        policy,
        timeout: args.timeout,
        concurrency: args.concurrency.clamp(1, 64),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("signet: log fsck: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(fsck(&config)) {
        Ok(report) => {
            for problem in &report.problems {
                println!("problem: {problem}");
            }
            if report.problem_count > report.problems.len() as u64 {
                println!(
                    "… and {} more problems",
                    report.problem_count - report.problems.len() as u64
                );
            }
            println!(
                "{}: tree size {}, {} entries and {} hash tiles checked, {} problems",
                args.url, report.size, report.entries, report.tiles, report.problem_count
            );
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_LOG_MISBEHAVIOUR)
            }
        }
        Err(e @ (FsckError::Unreachable(_) | FsckError::Internal(_))) => {
            eprintln!("signet: log fsck: {e}");
            ExitCode::from(EXIT_ERROR)
        }
        Err(e) => {
            eprintln!("signet: log fsck: {e}");
            ExitCode::from(EXIT_LOG_MISBEHAVIOUR)
        }
    }
}
