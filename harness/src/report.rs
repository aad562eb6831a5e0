//! Per-scenario results and the conformance report.
//!
//! [`Collector`] is a cucumber `Writer` that wraps cucumber's own (so people still see the
//! usual output) and keeps, for every scenario, its feature, name, claim tags and outcome:
//! passed, failed (which step, why, and the scenario's trace), or skipped (why). The
//! [`Summary`] renders a conformance table (Markdown, one row per scenario) and a closing
//! line exactly `N passed, N failed, N skipped`.
//!
//! # References
//!
//! - cucumber-rs `Writer` and its events: <https://docs.rs/cucumber/0.23>.
//! - `DESIGN.md`, "Reports".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use cucumber::event::{self, StepError};
use cucumber::gherkin;
use cucumber::{Event, Writer, parser, writer};

use crate::world::KafkaWorld;

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every step passed.
    Passed,
    /// A step (or hook) failed: what and why.
    Failed(String),
    /// Not run: why.
    Skipped(String),
}

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// The feature file's name without `.feature` (`offsets`), where recordings of it live.
    pub file: String,
    /// The feature's name.
    pub feature: String,
    /// The scenario's name.
    pub scenario: String,
    /// Its line in the feature file (an outline's example row for expanded outlines).
    pub line: usize,
    /// Its column (with the line, tells expanded outline rows apart).
    pub column: usize,
    /// Its claim ids (`C-OFF-2`), from feature, rule and scenario tags.
    pub claims: Vec<String>,
    /// Whether it shows seed folklore to be wrong.
    pub folklore: bool,
    /// How it ended.
    pub outcome: Outcome,
    /// What it observed, in order.
    pub trace: Vec<String>,
}

impl ScenarioResult {
    /// A result for a scenario, with claims gathered from every level's tags.
    pub fn new(
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        scenario: &gherkin::Scenario,
        outcome: Outcome,
    ) -> ScenarioResult {
        let tags: Vec<&String> = feature
            .tags
            .iter()
            .chain(rule.map(|r| r.tags.iter()).into_iter().flatten())
            .chain(scenario.tags.iter())
            .collect();
        let mut claims: Vec<String> = tags
            .iter()
            .filter(|t| t.starts_with("C-"))
            .map(|t| (*t).clone())
            .collect();
        claims.sort();
        claims.dedup();
        ScenarioResult {
            file: feature_file(feature),
            feature: feature.name.clone(),
            scenario: scenario.name.clone(),
            line: scenario.position.line,
            column: scenario.position.col,
            claims,
            folklore: tags.iter().any(|t| t.as_str() == "folklore"),
            outcome,
            trace: Vec::new(),
        }
    }
}

/// A feature's file name without `.feature` (its name if it was not read from a file).
pub fn feature_file(feature: &gherkin::Feature) -> String {
    feature
        .path
        .as_deref()
        .and_then(|p| p.file_stem())
        .map_or_else(
            || feature.name.clone(),
            |s| s.to_string_lossy().into_owned(),
        )
}

/// Every scenario's result, and the errors outside any scenario.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The target's name.
    pub target: String,
    /// Results in the order scenarios finished (or were skipped).
    pub results: Vec<ScenarioResult>,
    /// Problems outside any scenario: feature files that did not parse, recordings of real
    /// Kafka that no scenario matches. Each counts as a failure.
    pub errors: Vec<String>,
}

impl Summary {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.outcome)).count()
    }

    /// Scenarios that passed.
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Passed))
    }

    /// Scenarios that failed, plus feature files that did not parse.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_))) + self.errors.len()
    }

    /// Scenarios skipped.
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped(_)))
    }

    /// Whether nothing failed and something ran.
    pub fn succeeded(&self) -> bool {
        self.failed() == 0 && self.passed() > 0
    }

    /// `N passed, N failed, N skipped`.
    pub fn closing_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        )
    }

    /// The conformance table: one row per scenario, sorted by feature and line.
    pub fn table(&self) -> String {
        let mut rows: Vec<&ScenarioResult> = self.results.iter().collect();
        rows.sort_by(|a, b| (&a.feature, a.line).cmp(&(&b.feature, b.line)));
        let mut out = String::new();
        let _ = writeln!(out, "Conformance of {}", self.target);
        let _ = writeln!(out);
        let _ = writeln!(out, "| feature | scenario | claims | result |");
        let _ = writeln!(out, "|---|---|---|---|");
        for row in rows {
            let result = match &row.outcome {
                Outcome::Passed => "passed".to_owned(),
                Outcome::Failed(why) => format!("FAILED: {}", one_line(why)),
                Outcome::Skipped(why) => format!("skipped: {}", one_line(why)),
            };
            let folklore = if row.folklore { " (folklore)" } else { "" };
            let _ = writeln!(
                out,
                "| {} | {} (line {}){folklore} | {} | {result} |",
                cell(&row.feature),
                cell(&row.scenario),
                row.line,
                row.claims.join(" "),
            );
        }
        for error in &self.errors {
            let _ = writeln!(out, "| (error) | {} | | FAILED |", cell(error));
        }
        out
    }

    /// Every scenario's trace, for a differential run or a curious reader.
    pub fn traces(&self) -> String {
        let mut rows: Vec<&ScenarioResult> = self.results.iter().collect();
        rows.sort_by(|a, b| (&a.feature, a.line).cmp(&(&b.feature, b.line)));
        let mut out = String::new();
        for result in rows {
            let _ = writeln!(
                out,
                "# {} / {} (line {})",
                result.feature, result.scenario, result.line
            );
            for line in &result.trace {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    /// Each failed scenario with its reason and trace.
    pub fn failures(&self) -> String {
        let mut out = String::new();
        for result in &self.results {
            if let Outcome::Failed(why) = &result.outcome {
                let _ = writeln!(
                    out,
                    "FAILED {} / {} (line {}) [{}]\n  {why}",
                    result.feature,
                    result.scenario,
                    result.line,
                    result.claims.join(" ")
                );
                let _ = writeln!(out, "  trace:");
                for line in &result.trace {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        out
    }

    /// The results as JUnit XML (one test case per scenario, one suite per feature), for CI.
    pub fn junit_xml(&self) -> String {
        let mut features: BTreeMap<&str, Vec<&ScenarioResult>> = BTreeMap::new();
        for result in &self.results {
            features.entry(&result.feature).or_default().push(result);
        }
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            xml(&self.target),
            self.results.len() + self.errors.len(),
            self.failed(),
            self.skipped()
        );
        for (feature, results) in features {
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\">",
                xml(feature),
                results.len()
            );
            for result in results {
                let _ = write!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{} (line {}) [{}]\"",
                    xml(feature),
                    xml(&result.scenario),
                    result.line,
                    xml(&result.claims.join(" "))
                );
                match &result.outcome {
                    Outcome::Passed => out.push_str("/>\n"),
                    Outcome::Skipped(why) => {
                        let _ = writeln!(out, "><skipped message=\"{}\"/></testcase>", xml(why));
                    }
                    Outcome::Failed(why) => {
                        let _ = writeln!(
                            out,
                            "><failure message=\"{}\">{}</failure></testcase>",
                            xml(&one_line(why)),
                            xml(&result.trace.join("\n"))
                        );
                    }
                }
            }
            out.push_str("  </testsuite>\n");
        }
        for error in &self.errors {
            let _ = writeln!(
                out,
                "  <testsuite name=\"errors\" tests=\"1\"><testcase name=\"error\"><failure message=\"{}\"/></testcase></testsuite>",
                xml(error)
            );
        }
        out.push_str("</testsuites>\n");
        out
    }

    /// The whole report: table, failures with traces, and the closing line last.
    pub fn render(&self) -> String {
        let mut out = self.table();
        let failures = self.failures();
        if !failures.is_empty() {
            out.push('\n');
            out.push_str(&failures);
        }
        out.push('\n');
        out.push_str(&self.closing_line());
        out.push('\n');
        out
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// The text of a step error: a step's returned error or panic message, as is.
fn step_error_text(error: &StepError) -> String {
    match error {
        StepError::Panic(info) => {
            if let Some(text) = info.downcast_ref::<String>() {
                text.clone()
            } else if let Some(text) = info.downcast_ref::<&str>() {
                (*text).to_owned()
            } else {
                "panicked".to_owned()
            }
        }
        other => other.to_string(),
    }
}

/// Identifies one scenario run: its feature, and the scenario's line and column (an
/// expanded outline's rows have their own lines).
pub type ScenarioKey = (String, usize, usize);

/// The key of a scenario.
pub fn key_of(feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> ScenarioKey {
    (
        feature.name.clone(),
        scenario.position.line,
        scenario.position.col,
    )
}

/// Results gathered while cucumber runs; shared with the runner.
#[derive(Debug, Default)]
pub struct Collected {
    running: BTreeMap<ScenarioKey, ScenarioResult>,
    /// Finished (and skipped) scenarios.
    pub results: Vec<ScenarioResult>,
    /// Parse errors.
    pub errors: Vec<String>,
    /// Every finished scenario's trace (from the runner's `after` hook).
    pub traces: BTreeMap<ScenarioKey, Vec<String>>,
}

impl Collected {
    /// The results, each with its scenario's full trace where one was kept.
    pub fn into_results(mut self) -> (Vec<ScenarioResult>, Vec<String>) {
        for result in &mut self.results {
            let key = (result.feature.clone(), result.line, result.column);
            if let Some(trace) = self.traces.remove(&key) {
                result.trace = trace;
            }
        }
        (self.results, self.errors)
    }
}

/// A cucumber `Writer` that records every scenario's result and passes every event on to
/// the writer it wraps.
pub struct Collector<Inner> {
    inner: Inner,
    collected: Arc<Mutex<Collected>>,
}

impl<Inner> Collector<Inner> {
    /// Wraps `inner`, recording into `collected`.
    pub fn new(inner: Inner, collected: Arc<Mutex<Collected>>) -> Collector<Inner> {
        Collector { inner, collected }
    }

    fn observe(&self, event: &parser::Result<Event<event::Cucumber<KafkaWorld>>>) {
        let Ok(mut collected) = self.collected.lock() else {
            return;
        };
        let event = match event {
            Ok(event) => &event.value,
            Err(error) => {
                collected.errors.push(error.to_string());
                return;
            }
        };
        let event::Cucumber::Feature(feature, feature_event) = event else {
            return;
        };
        let (rule, scenario, scenario_event) = match feature_event {
            event::Feature::Scenario(scenario, ev) => (None, scenario, &ev.event),
            event::Feature::Rule(rule, event::Rule::Scenario(scenario, ev)) => {
                (Some(rule), scenario, &ev.event)
            }
            _ => return,
        };
        let key = key_of(feature, scenario);
        match scenario_event {
            event::Scenario::Started => {
                let result =
                    ScenarioResult::new(feature, rule.map(|r| &**r), scenario, Outcome::Passed);
                collected.running.insert(key, result);
            }
            event::Scenario::Step(step, step_event)
            | event::Scenario::Background(step, step_event) => {
                let outcome = match step_event {
                    event::Step::Failed(_, _, world, error) => Some((
                        Outcome::Failed(format!(
                            "{}{}: {}",
                            step.keyword,
                            step.value,
                            step_error_text(error)
                        )),
                        world.as_ref().map(|w| w.trace_lines()),
                    )),
                    event::Step::Skipped => Some((
                        Outcome::Skipped(format!(
                            "{}{}: no step matches",
                            step.keyword, step.value
                        )),
                        None,
                    )),
                    _ => None,
                };
                if let (Some((outcome, trace)), Some(result)) =
                    (outcome, collected.running.get_mut(&key))
                    && result.outcome == Outcome::Passed
                {
                    result.outcome = outcome;
                    result.trace = trace.unwrap_or_default();
                }
            }
            event::Scenario::Hook(kind, event::Hook::Failed(world, info)) => {
                if let Some(result) = collected.running.get_mut(&key) {
                    let why = step_error_text(&StepError::Panic(info.clone()));
                    result.outcome = Outcome::Failed(format!("{kind:?} hook: {why}"));
                    result.trace = world.as_ref().map(|w| w.trace_lines()).unwrap_or_default();
                }
            }
            event::Scenario::Finished => {
                if let Some(result) = collected.running.remove(&key) {
                    collected.results.push(result);
                }
            }
            _ => {}
        }
    }
}

impl<Inner: Writer<KafkaWorld>> Writer<KafkaWorld> for Collector<Inner> {
    type Cli = Inner::Cli;

    async fn handle_event(
        &mut self,
        event: parser::Result<Event<event::Cucumber<KafkaWorld>>>,
        cli: &Self::Cli,
    ) {
        self.observe(&event);
        self.inner.handle_event(event, cli).await;
    }
}

/// The wrapped writer normalises, so this one may be treated as normalised too: it only
/// records, and records by scenario.
impl<Inner: writer::Normalized> writer::Normalized for Collector<Inner> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(scenario: &str, line: usize, outcome: Outcome) -> ScenarioResult {
        ScenarioResult {
            file: "offsets".to_owned(),
            feature: "Offsets".to_owned(),
            scenario: scenario.to_owned(),
            line,
            column: 5,
            claims: vec!["C-OFF-1".to_owned()],
            folklore: false,
            outcome,
            trace: vec!["offset topic=orders partition=0 latest=3".to_owned()],
        }
    }

    #[test]
    fn the_closing_line_counts_every_outcome() {
        let summary = Summary {
            target: "reference".to_owned(),
            results: vec![
                result("a", 3, Outcome::Passed),
                result("b", 9, Outcome::Failed("Then x: boom".to_owned())),
                result(
                    "c",
                    12,
                    Outcome::Skipped("fault-control unsupported".to_owned()),
                ),
            ],
            errors: vec![],
        };
        assert_eq!(summary.closing_line(), "1 passed, 1 failed, 1 skipped");
        let report = summary.render();
        assert!(report.ends_with("1 passed, 1 failed, 1 skipped\n"));
        assert!(report.contains("| Offsets | b (line 9) | C-OFF-1 | FAILED: Then x: boom |"));
        assert!(report.contains("    offset topic=orders partition=0 latest=3"));
        assert!(!summary.succeeded());
        let junit = summary.junit_xml();
        assert!(
            junit.contains(
                "<testsuites name=\"reference\" tests=\"3\" failures=\"1\" skipped=\"1\">"
            )
        );
        assert!(junit.contains("<failure message=\"Then x: boom\">offset topic=orders"));
    }
}
