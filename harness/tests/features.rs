//! `cargo test`: every feature against the in-process reference broker, then every feature
//! again against the in-process reference cluster of three brokers (`reference:3`, with
//! fault control: the scenarios that stop a broker run there), each scenario's trace
//! compared with real Apache Kafka's recording of it (`fixtures/traces/`). Real Kafka gives
//! the same trace on one node and on three, so both passes are held to one recording.
//!
//! cucumber's own output shows each scenario as it runs; each pass then prints its
//! conformance table, its failures and a `<target>: N passed, N failed, N skipped` line with
//! its duration, and the run ends with one plain `N passed, N failed, N skipped` line, the
//! sum of both passes. A scenario whose trace differs from real Kafka's recording fails with
//! the first differing observation; one without a recording fails naming the command that
//! records it (`KAFKA_SPEC_ALLOW_UNRECORDED=1` makes that a warning while a scenario is
//! being written). Any failure exits non-zero.
//! `cargo test -p kafka-spec --test features -- <text>` runs only scenarios whose name
//! contains `<text>`; `KAFKA_SPEC_TARGETS=reference:3` (comma-separated target names) runs
//! only the passes named; `KAFKA_SPEC_TRACES=1` also prints every scenario's trace, and
//! `KAFKA_SPEC_JUNIT=<file>` writes the results of both passes as JUnit XML.

use std::process::ExitCode;
use std::time::Instant;

use kafka_spec::recording::{self, ALLOW_UNRECORDED_ENV, CheckPolicy, RECORD_MISSING_COMMAND};
use kafka_spec::target::spec::TargetSpec;
use kafka_spec::{RunOptions, Summary, run_features};

/// The passes, in order: the single broker, then the three-broker cluster.
const PASSES: [TargetSpec; 2] = [
    TargetSpec::Reference,
    TargetSpec::ReferenceCluster { brokers: 3 },
];

/// Names the passes to run (`reference`, `reference:3`), comma-separated.
const TARGETS_ENV: &str = "KAFKA_SPEC_TARGETS";

/// One pass: its summary (compared with the recordings), the recordings line, seconds.
struct Pass {
    summary: Summary,
    recordings_line: String,
    seconds: f64,
}

/// Runs every selected scenario on `spec` and compares the traces with the recordings.
async fn run_pass(spec: &TargetSpec, options: &RunOptions, policy: CheckPolicy) -> Pass {
    let started = Instant::now();
    let mut summary = match spec.start().await {
        Ok(target) => {
            println!("\n== running the features on {} ==\n", target.name());
            let summary = run_features(target.clone(), options).await;
            target.shutdown().await;
            summary
        }
        Err(error) => Summary {
            target: spec.to_string(),
            results: Vec::new(),
            errors: vec![format!("cannot start {spec}: {error:#}")],
        },
    };
    println!();
    let check = recording::pinned_recordings_dir().and_then(|(version, dir)| {
        let check = recording::check_summary(&mut summary, &dir, policy)?;
        Ok((version, check))
    });
    let recordings_line = match check {
        Ok((version, check)) => {
            if policy.allow_missing && !check.missing.is_empty() {
                eprintln!(
                    "warning: {} scenario(s) have no recording of real Kafka on {} \
                     ({ALLOW_UNRECORDED_ENV}=1): record them with `{RECORD_MISSING_COMMAND}`",
                    check.missing.len(),
                    summary.target
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
    Pass {
        summary,
        recordings_line,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The passes `KAFKA_SPEC_TARGETS` selects (all when unset).
fn selected_passes() -> Result<Vec<TargetSpec>, String> {
    let Some(names) = std::env::var_os(TARGETS_ENV) else {
        return Ok(PASSES.to_vec());
    };
    let names = names.to_string_lossy().into_owned();
    let mut passes = Vec::new();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let spec: TargetSpec = name.parse()?;
        if !PASSES.contains(&spec) {
            return Err(format!(
                "{TARGETS_ENV}: {name} is not one of this test's passes (reference, reference:3)"
            ));
        }
        passes.push(spec);
    }
    if passes.is_empty() {
        return Err(format!("{TARGETS_ENV} names no pass"));
    }
    Ok(passes)
}

#[tokio::main]
async fn main() -> ExitCode {
    // libtest-style flags (`--nocapture`, `--test-threads`) are ignored; a plain word filters.
    let name_filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let passes = match selected_passes() {
        Ok(passes) => passes,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let full_run = name_filter.is_none();
    let options = RunOptions {
        name_filter,
        ..RunOptions::default()
    };
    let policy = CheckPolicy {
        allow_missing: std::env::var_os(ALLOW_UNRECORDED_ENV).is_some_and(|v| v == "1"),
        report_stale: full_run,
    };

    let mut done = Vec::new();
    for spec in &passes {
        done.push(run_pass(spec, &options, policy).await);
    }

    if std::env::var_os("KAFKA_SPEC_TRACES").is_some() {
        for pass in &done {
            println!(
                "Traces on {}:\n{}",
                pass.summary.target,
                pass.summary.traces()
            );
        }
    }
    if let Some(path) = std::env::var_os("KAFKA_SPEC_JUNIT") {
        let xml = junit_of_passes(&done);
        if let Err(error) = std::fs::write(&path, xml) {
            eprintln!(
                "cannot write JUnit XML to {}: {error}",
                path.to_string_lossy()
            );
            return ExitCode::FAILURE;
        }
    }
    for pass in &done {
        println!("{}", pass.recordings_line);
        print!("{}", pass.summary.render());
        println!();
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for pass in &done {
        println!(
            "{}: {} ({:.1} s)",
            pass.summary.target,
            pass.summary.closing_line(),
            pass.seconds
        );
        passed += pass.summary.passed();
        failed += pass.summary.failed();
        skipped += pass.summary.skipped();
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    // A pass may rightly run nothing (a name filter that only matches scenarios needing
    // several brokers): the run succeeds if nothing failed and something passed.
    if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Both passes' results in one JUnit document: one suite per feature and pass, named
/// `<target>: <feature>`, so that the same scenario on two targets stays two test cases.
fn junit_of_passes(passes: &[Pass]) -> String {
    let mut merged = Summary {
        target: passes
            .iter()
            .map(|p| p.summary.target.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        ..Summary::default()
    };
    for pass in passes {
        let target = &pass.summary.target;
        merged
            .results
            .extend(pass.summary.results.iter().cloned().map(|mut result| {
                result.feature = format!("{target}: {}", result.feature);
                result
            }));
        merged.errors.extend(
            pass.summary
                .errors
                .iter()
                .map(|error| format!("{target}: {error}")),
        );
    }
    merged.junit_xml()
}
