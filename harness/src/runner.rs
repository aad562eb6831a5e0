//! Runs the features against a target and returns what happened, for `tests/features.rs`
//! and the `kafka-spec` commands alike.
//!
//! cucumber runs with `fail_on_skipped` (a step no definition matches is a failure, not a
//! silent skip), at most [`MAX_CONCURRENT_SCENARIOS`] scenarios at a time (the machine has
//! two cores and every scenario starts librdkafka clients), and `@serial` scenarios alone.
//! A scenario tagged `@requires-<capability>` (on the scenario, its rule or its feature)
//! that the target lacks is not run: it is reported as skipped, with the reason printed;
//! on a target that can run nothing ([`Target::unavailable`]) every scenario is.
//!
//! After every scenario on a target with fault control, the `after` hook puts the cluster
//! back together ([`crate::target::FaultControl::restore`]): scenarios share one cluster.
//!
//! # References
//!
//! - cucumber-rs book, "Tags" (`@serial`), "Scenario hooks", "Output".

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cucumber::writer::{Coloring, Verbosity};
use cucumber::{World as _, Writer, WriterExt as _, writer};
use futures::FutureExt as _;

use crate::recording::{RecordingId, slug};
use crate::report::{Collected, Collector, Outcome, ScenarioResult, Summary, feature_file, key_of};
use crate::target::{Capability, Target};
use crate::world::KafkaWorld;

/// Scenarios run at once (each one holds a few librdkafka clients and their threads).
pub const MAX_CONCURRENT_SCENARIOS: usize = 4;

/// Which scenarios to run, by their recording id.
pub type ScenarioFilter = Arc<dyn Fn(&RecordingId) -> bool + Send + Sync>;

/// What to run.
#[derive(Clone)]
pub struct RunOptions {
    /// The directory of `.feature` files.
    pub features_dir: PathBuf,
    /// Only scenarios whose name contains this (all when `None`).
    pub name_filter: Option<String>,
    /// Only scenarios this accepts (all when `None`).
    pub only: Option<ScenarioFilter>,
    /// Print cucumber's step-by-step output (otherwise only skips and the results).
    pub verbose: bool,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            features_dir: crate::default_features_dir(),
            name_filter: None,
            only: None,
            verbose: true,
        }
    }
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("features_dir", &self.features_dir)
            .field("name_filter", &self.name_filter)
            .field("only", &self.only.as_ref().map(|_| "a filter"))
            .field("verbose", &self.verbose)
            .finish()
    }
}

/// Why a scenario cannot run on this target, if it cannot.
fn skip_reason(
    target: &dyn Target,
    feature: &cucumber::gherkin::Feature,
    rule: Option<&cucumber::gherkin::Rule>,
    scenario: &cucumber::gherkin::Scenario,
) -> Option<String> {
    if let Some(reason) = target.unavailable() {
        return Some(reason);
    }
    let tags = feature
        .tags
        .iter()
        .chain(rule.map(|r| r.tags.iter()).into_iter().flatten())
        .chain(scenario.tags.iter());
    for tag in tags {
        match Capability::from_tag(tag) {
            Some(Ok(capability)) => {
                if let Some(reason) = target.lacks(capability) {
                    return Some(reason);
                }
            }
            Some(Err(unknown)) => {
                return Some(format!("unknown capability {unknown:?} in tag @{tag}"));
            }
            None => {}
        }
    }
    None
}

/// Runs every feature in `options.features_dir` against `target` and returns the
/// per-scenario results; cucumber's own output goes to stdout when `options.verbose`.
pub async fn run_features(target: Arc<dyn Target>, options: &RunOptions) -> Summary {
    if options.verbose {
        run_with(writer::Basic::stdout().summarized(), target, options).await
    } else {
        let quiet = writer::Basic::new(std::io::sink(), Coloring::Never, Verbosity::Default);
        run_with(quiet.summarized(), target, options).await
    }
}

async fn run_with<Inner>(inner: Inner, target: Arc<dyn Target>, options: &RunOptions) -> Summary
where
    Inner: Writer<KafkaWorld> + writer::Normalized + 'static,
    Inner::Cli: Default,
{
    let collected = Arc::new(Mutex::new(Collected::default()));
    let writer = Collector::new(inner, collected.clone());

    let hook_target = target.clone();
    let restore_target = target.clone();
    let filter_target = target.clone();
    let filter_collected = collected.clone();
    let trace_collected = collected.clone();
    let name_filter = options.name_filter.clone();
    let only = options.only.clone();

    KafkaWorld::cucumber()
        .with_writer(writer)
        .fail_on_skipped()
        .max_concurrent_scenarios(MAX_CONCURRENT_SCENARIOS)
        .before(move |_feature, _rule, _scenario, world| {
            world.attach(hook_target.clone());
            async {}.boxed_local()
        })
        .after(move |feature, _rule, scenario, _finished, world| {
            if let (Some(world), Ok(mut collected)) = (world, trace_collected.lock()) {
                collected
                    .traces
                    .insert(key_of(feature, scenario), world.trace_lines());
            }
            let target = restore_target.clone();
            let name = scenario.name.clone();
            async move {
                if let Some(faults) = target.faults()
                    && let Err(error) = faults.restore().await
                {
                    eprintln!("after {name:?}: could not put the cluster back together: {error:#}");
                }
            }
            .boxed_local()
        })
        .with_default_cli()
        .filter_run(&options.features_dir, move |feature, rule, scenario| {
            if let Some(filter) = &name_filter
                && !scenario.name.contains(filter.as_str())
            {
                return false;
            }
            if let Some(only) = &only {
                let id = RecordingId {
                    file: feature_file(feature),
                    slug: slug(&scenario.name),
                };
                if !only(&id) {
                    return false;
                }
            }
            let Some(reason) = skip_reason(filter_target.as_ref(), feature, rule, scenario) else {
                return true;
            };
            println!(
                "SKIPPED {} / {} (line {}): {reason}",
                feature.name, scenario.name, scenario.position.line
            );
            let result = ScenarioResult::new(feature, rule, scenario, Outcome::Skipped(reason));
            if let Ok(mut collected) = filter_collected.lock() {
                collected.results.push(result);
            }
            false
        })
        .await;

    let collected = collected
        .lock()
        .map(|mut c| std::mem::take(&mut *c))
        .unwrap_or_default();
    let (results, mut errors) = collected.into_results();
    if !options.features_dir.is_dir() {
        errors.push(format!(
            "no features directory at {}",
            options.features_dir.display()
        ));
    }
    Summary {
        target: target.name(),
        results,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;
    use crate::target::reference_cluster::ReferenceClusterTarget;

    /// A scenario that stops a broker and leaves it stopped, and one that needs every broker.
    const LEAVES_A_BROKER_STOPPED: &str = r#"Feature: Restore after a fault
  @requires-multiple-brokers @requires-fault-control @serial
  Scenario: A follower is stopped and left stopped
    Given a topic "left" with 1 partition, replication factor 3 and configs:
      | min.insync.replicas | 1 |
    And a follower of partition 0 of "left" has been stopped
    And within 20 seconds partition 0 of "left" has 2 in-sync replicas
"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_after_hook_starts_every_broker_a_scenario_stopped() {
        let features = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            features.path().join("restore.feature"),
            LEAVES_A_BROKER_STOPPED,
        )
        .expect("feature written");
        let target = Arc::new(ReferenceClusterTarget::start(3).await.expect("starts"));
        let options = RunOptions {
            features_dir: features.path().to_path_buf(),
            verbose: false,
            ..RunOptions::default()
        };
        let summary = run_features(target.clone(), &options).await;
        let outcomes: Vec<&Outcome> = summary.results.iter().map(|r| &r.outcome).collect();
        assert_eq!(outcomes, vec![&Outcome::Passed], "{}", summary.render());
        // The scenario stopped a broker and did not start it: the hook did.
        assert_eq!(target.running_ids().await, vec![1, 2, 3]);
        target.shutdown().await;
    }
}
