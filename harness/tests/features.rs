//! `cargo test`: every feature against the in-process reference broker, each scenario's
//! trace compared with real Apache Kafka's recording of it (`fixtures/traces/`).
//!
//! cucumber's own output shows each scenario as it runs; the conformance table and the
//! closing `N passed, N failed, N skipped` line follow. A scenario whose trace differs from
//! real Kafka's recording fails with the first differing observation; one without a
//! recording fails naming the command that records it (`KAFKA_SPEC_ALLOW_UNRECORDED=1`
//! makes that a warning while a scenario is being written). Any failure exits non-zero.
//! `cargo test -p kafka-spec --test features -- <text>` runs only scenarios whose name
//! contains `<text>`; `KAFKA_SPEC_TRACES=1` also prints every scenario's trace, and
//! `KAFKA_SPEC_JUNIT=<file>` writes the results as JUnit XML.

use std::process::ExitCode;
use std::sync::Arc;

use kafka_spec::recording::{self, ALLOW_UNRECORDED_ENV, CheckPolicy, RECORD_MISSING_COMMAND};
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
    let full_run = name_filter.is_none();
    let options = RunOptions {
        name_filter,
        ..RunOptions::default()
    };
    let mut summary = run_features(target.clone(), &options).await;
    target.shutdown().await;
    println!();

    let allow_missing = std::env::var_os(ALLOW_UNRECORDED_ENV).is_some_and(|v| v == "1");
    let policy = CheckPolicy {
        allow_missing,
        report_stale: full_run,
    };
    let check = recording::pinned_recordings_dir().and_then(|(version, dir)| {
        let check = recording::check_summary(&mut summary, &dir, policy)?;
        Ok((version, check))
    });
    let recordings_line = match check {
        Ok((version, check)) => {
            if allow_missing && !check.missing.is_empty() {
                eprintln!(
                    "warning: {} scenario(s) have no recording of real Kafka ({ALLOW_UNRECORDED_ENV}=1): \
                     record them with `{RECORD_MISSING_COMMAND}`",
                    check.missing.len()
                );
            }
            check.line(&version)
        }
        Err(error) => {
            summary
                .errors
                .push(format!("comparing with real Kafka's recordings: {error:#}"));
            "recordings of real Kafka: not compared".to_owned()
        }
    };

    if std::env::var_os("KAFKA_SPEC_TRACES").is_some() {
        println!("{}", summary.traces());
    }
    if let Some(path) = std::env::var_os("KAFKA_SPEC_JUNIT")
        && let Err(error) = std::fs::write(&path, summary.junit_xml())
    {
        eprintln!(
            "cannot write JUnit XML to {}: {error}",
            path.to_string_lossy()
        );
        return ExitCode::FAILURE;
    }
    println!("{recordings_line}");
    print!("{}", summary.render());
    if summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
