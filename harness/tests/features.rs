//! `cargo test`: every feature against the in-process reference broker.
//!
//! cucumber's own output shows each scenario as it runs; the conformance table and the
//! closing `N passed, N failed, N skipped` line follow. Any failure exits non-zero.
//! `cargo test -p kafka-spec --test features -- <text>` runs only scenarios whose name
//! contains `<text>`; `KAFKA_SPEC_TRACES=1` also prints every scenario's trace.

use std::process::ExitCode;
use std::sync::Arc;

use kafka_spec::{ReferenceTarget, RunOptions, run_features};

#[tokio::main]
async fn main() -> ExitCode {
    // libtest-style flags (`--nocapture`, `--test-threads`) are ignored; a plain word filters.
    let name_filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let target = match ReferenceTarget::start().await {
        Ok(target) => Arc::new(target),
        Err(error) => {
            eprintln!("cannot start the reference broker: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let options = RunOptions {
        name_filter,
        ..RunOptions::default()
    };
    let summary = run_features(target.clone(), &options).await;
    target.shutdown().await;
    println!();
    if std::env::var_os("KAFKA_SPEC_TRACES").is_some() {
        println!("{}", summary.traces());
    }
    print!("{}", summary.render());
    if summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
