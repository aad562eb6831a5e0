//! Runs the features against a target and returns what happened, for `tests/features.rs`
//! and `kafka-spec check` alike.
//!
//! cucumber runs with `fail_on_skipped` (a step no definition matches is a failure, not a
//! silent skip), at most [`MAX_CONCURRENT_SCENARIOS`] scenarios at a time (the machine has
//! two cores and every scenario starts librdkafka clients), and `@serial` scenarios alone.
//! A scenario tagged `@requires-<capability>` (on the scenario, its rule or its feature)
//! that the target lacks is not run: it is reported as skipped, with the reason printed.
//!
//! # References
//!
//! - cucumber-rs book, "Tags" (`@serial`), "Scenario hooks", "Output".

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cucumber::{World as _, WriterExt as _, writer};
use futures::FutureExt as _;

use crate::report::{Collected, Collector, Outcome, ScenarioResult, Summary, key_of};
use crate::target::{Capability, Target};
use crate::world::KafkaWorld;

/// Scenarios run at once (each one holds a few librdkafka clients and their threads).
pub const MAX_CONCURRENT_SCENARIOS: usize = 4;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The directory of `.feature` files.
    pub features_dir: PathBuf,
    /// Only scenarios whose name contains this (all when `None`).
    pub name_filter: Option<String>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            features_dir: crate::default_features_dir(),
            name_filter: None,
        }
    }
}

/// Why a scenario cannot run on this target, if it cannot.
fn skip_reason(
    target: &dyn Target,
    feature: &cucumber::gherkin::Feature,
    rule: Option<&cucumber::gherkin::Rule>,
    scenario: &cucumber::gherkin::Scenario,
) -> Option<String> {
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

/// Runs every feature in `options.features_dir` against `target`, printing cucumber's usual
/// output as it goes, and returns the per-scenario results.
pub async fn run_features(target: Arc<dyn Target>, options: &RunOptions) -> Summary {
    let collected = Arc::new(Mutex::new(Collected::default()));
    let writer = Collector::new(writer::Basic::stdout().summarized(), collected.clone());

    let hook_target = target.clone();
    let filter_target = target.clone();
    let filter_collected = collected.clone();
    let trace_collected = collected.clone();
    let name_filter = options.name_filter.clone();

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
            async {}.boxed_local()
        })
        .with_default_cli()
        .filter_run(&options.features_dir, move |feature, rule, scenario| {
            if let Some(filter) = &name_filter
                && !scenario.name.contains(filter.as_str())
            {
                return false;
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
    let (results, mut parse_errors) = collected.into_results();
    if !options.features_dir.is_dir() {
        parse_errors.push(format!(
            "no features directory at {}",
            options.features_dir.display()
        ));
    }
    Summary {
        target: target.name(),
        results,
        parse_errors,
    }
}
