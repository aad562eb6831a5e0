//! What `kafka-spec check`, `diff` and `record` do, apart from parsing their arguments.
//!
//! - [`check`]: every scenario on one target; the conformance table; non-zero on failure.
//! - [`diff`]: every scenario on target A (the reference, by default) and on each target B
//!   in turn; per scenario same / differs / skipped; optionally the conformance report.
//! - [`record`]: every scenario on real Kafka, each passing scenario's trace written under
//!   `fixtures/traces/kafka-<version>/`; scenarios that need more brokers than the first
//!   cluster has are recorded on a three-node cluster.
//!
//! Targets are started one at a time and stopped as soon as their run is over (and, through
//! `Drop`, on any early return), so no Kafka outlives the command.
//!
//! # References
//!
//! - `fixtures/README.md` (recordings), `ci/README.md` (what CI runs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::conformance::{self, ConformanceInput};
use crate::diff::DiffReport;
use crate::recording::{self, KnownDifferences, RecordingId};
use crate::report::{Outcome, Summary};
use crate::runner::{RunOptions, run_features};
use crate::target::Target;
use crate::target::spec::TargetSpec;

/// Starts a target, runs the features on it, stops it.
pub async fn run_on(spec: &TargetSpec, options: &RunOptions) -> anyhow::Result<Summary> {
    let target: Arc<dyn Target> = spec
        .start()
        .await
        .with_context(|| format!("starting target {spec}"))?;
    eprintln!("running the features on {}", target.name());
    let summary = run_features(target.clone(), options).await;
    target.shutdown().await;
    Ok(summary)
}

/// `kafka-spec check`: the summary of one target's run (the caller prints and judges it).
pub async fn check(spec: &TargetSpec, options: &RunOptions) -> anyhow::Result<Summary> {
    run_on(spec, options).await
}

/// What `kafka-spec diff` produced.
#[derive(Debug)]
pub struct DiffOutcome {
    /// Side A's run.
    pub a: Summary,
    /// Each side B's run with its comparison to A.
    pub b: Vec<(Summary, DiffReport)>,
}

impl DiffOutcome {
    /// Whether every comparison succeeded and nothing failed on any side.
    pub fn succeeded(&self) -> bool {
        self.a.failed() == 0
            && self
                .b
                .iter()
                .all(|(summary, report)| summary.failed() == 0 && report.succeeded())
    }
}

/// `kafka-spec diff`: A once, then each B, each compared with A as it finishes (printed).
pub async fn diff(
    a: &TargetSpec,
    bs: &[TargetSpec],
    options: &RunOptions,
    known: &KnownDifferences,
) -> anyhow::Result<DiffOutcome> {
    anyhow::ensure!(!bs.is_empty(), "diff needs at least one --b target");
    let a_summary = run_on(a, options).await?;
    print_failures(&a_summary);
    let mut outcome = DiffOutcome {
        a: a_summary,
        b: Vec::new(),
    };
    for b in bs {
        let b_summary = run_on(b, options).await?;
        print_failures(&b_summary);
        let report = DiffReport::new(&outcome.a, &b_summary, known);
        println!("\n{}", report.render());
        outcome.b.push((b_summary, report));
    }
    Ok(outcome)
}

fn print_failures(summary: &Summary) {
    let failures = summary.failures();
    if !failures.is_empty() {
        println!("\nFailures on {}:\n{failures}", summary.target);
    }
    for error in &summary.errors {
        println!("ERROR on {}: {error}", summary.target);
    }
    println!("{}: {}", summary.target, summary.closing_line());
}

/// Writes the conformance report of a differential run.
pub fn write_report(
    outcome: &DiffOutcome,
    path: &Path,
    claims_path: &Path,
    known: &KnownDifferences,
    command: &str,
) -> anyhow::Result<()> {
    let claims = std::fs::read_to_string(claims_path)
        .ok()
        .map(|text| conformance::parse_claims(&text));
    if claims.is_none() {
        eprintln!(
            "the claims catalogue {} was not found: the report lists only claims the features tag",
            claims_path.display()
        );
    }
    let input = ConformanceInput {
        reference: &outcome.a,
        kafka: outcome.b.iter().map(|(s, d)| (s, d)).collect(),
        claims,
        known,
        command,
    };
    std::fs::write(path, conformance::render(&input))
        .with_context(|| format!("writing the report to {}", path.display()))?;
    eprintln!("conformance report written to {}", path.display());
    Ok(())
}

/// What `kafka-spec record` did.
#[derive(Debug, Default)]
pub struct RecordOutcome {
    /// Recordings written (new or changed).
    pub written: Vec<PathBuf>,
    /// Recordings already as this run saw them.
    pub unchanged: usize,
    /// Stale recordings deleted.
    pub deleted: Vec<PathBuf>,
    /// Scenarios that failed on real Kafka (not recorded): the spec is wrong there.
    pub failed: Vec<String>,
    /// Scenarios no target of the run could run (not recorded), with why.
    pub skipped: Vec<String>,
}

/// Writes every passed scenario's trace, returning what changed.
fn write_passed(
    summary: &Summary,
    out: &Path,
    source: &str,
    outcome: &mut RecordOutcome,
) -> anyhow::Result<()> {
    for result in &summary.results {
        let id = RecordingId::of(result);
        match &result.outcome {
            Outcome::Passed => {
                let path = id.path(out);
                let text = recording::render_recording(result, source);
                if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
                    outcome.unchanged += 1;
                } else {
                    outcome
                        .written
                        .push(recording::write_recording(out, result, source)?);
                }
            }
            Outcome::Failed(why) => outcome.failed.push(format!("{id}: {why}")),
            Outcome::Skipped(_) => {}
        }
    }
    Ok(())
}

/// `kafka-spec record`: runs the features on `spec` (real Kafka), writes the traces under
/// `out` (default: `fixtures/traces/kafka-<version>`), and records on a three-node
/// `kafka-local` what a one-node one had to skip.
pub async fn record(
    spec: &TargetSpec,
    out: Option<PathBuf>,
    options: &RunOptions,
    missing_only: bool,
) -> anyhow::Result<RecordOutcome> {
    let target: Arc<dyn Target> = spec.start().await?;
    let Some(version) = target.kafka_version() else {
        target.shutdown().await;
        bail!(
            "{} does not say which Apache Kafka it runs: recordings are of real Apache Kafka \
             (use --target kafka-local)",
            target.name()
        );
    };
    let out = out.unwrap_or_else(|| recording::recordings_dir(&version));
    let mut options = options.clone();
    if missing_only {
        let recorded = recording::recorded_ids(&out)?;
        options.only = Some(Arc::new(move |id: &RecordingId| !recorded.contains(id)));
    }
    // Only a run of every scenario of this workspace's features may delete recordings.
    let full_run = !missing_only
        && options.name_filter.is_none()
        && options.features_dir == crate::default_features_dir();
    eprintln!("recording into {} from {}", out.display(), target.name());
    let first = run_features(target.clone(), &options).await;
    target.shutdown().await;
    let mut outcome = RecordOutcome::default();
    let source = format!("Recorded from {} by `kafka-spec record`.", first.target);
    write_passed(&first, &out, &source, &mut outcome)?;
    let mut seen: BTreeSet<RecordingId> = first.results.iter().map(RecordingId::of).collect();

    // What a one-node cluster could not run, a three-node one may.
    let skipped: BTreeSet<RecordingId> = first
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .map(RecordingId::of)
        .collect();
    let mut last = first;
    if !skipped.is_empty() && *spec == (TargetSpec::KafkaLocal { nodes: 1 }) {
        let mut again = options.clone();
        let wanted = skipped.clone();
        again.only = Some(Arc::new(move |id: &RecordingId| wanted.contains(id)));
        let three = run_on(&TargetSpec::KafkaLocal { nodes: 3 }, &again).await?;
        let source = format!("Recorded from {} by `kafka-spec record`.", three.target);
        write_passed(&three, &out, &source, &mut outcome)?;
        seen.extend(three.results.iter().map(RecordingId::of));
        last = three;
    }
    for result in &last.results {
        if let Outcome::Skipped(why) = &result.outcome {
            outcome
                .skipped
                .push(format!("{}: {why}", RecordingId::of(result)));
        }
    }
    if full_run {
        for id in recording::recorded_ids(&out)? {
            if !seen.contains(&id) {
                let path = id.path(&out);
                std::fs::remove_file(&path)
                    .with_context(|| format!("deleting stale {}", path.display()))?;
                outcome.deleted.push(path);
            }
        }
    }
    Ok(outcome)
}
