//! The differential run: the same scenarios on two targets, compared scenario by scenario.
//!
//! Each scenario ends in one [`Verdict`]: `same` (both passed, traces equal line for line),
//! `differs` (both passed, the first differing observation shown), `known` (a difference
//! `known-differences.txt` accepts, with its reason), `FAILED` (it failed on one side: a
//! scenario is a spec of Kafka only if it passes everywhere), or `skipped` (one side could
//! not run it, with the reason). A differential run succeeds when nothing differs without a
//! reason and nothing failed.
//!
//! # References
//!
//! - `DESIGN.md`, "harness/: differential runs"; [`crate::recording`] (the same comparison
//!   against recorded traces).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::recording::{KnownDifferences, RecordingId, TraceDiff, compare};
use crate::report::{Outcome, ScenarioResult, Summary};

/// How one scenario compares across two targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Both passed with equal traces.
    Same,
    /// Both passed; the traces part here.
    Differs(String),
    /// Both passed; the traces differ as accepted, for this reason.
    Known { reason: String, difference: String },
    /// It failed on a side: which, and why.
    Failed(String),
    /// A side did not run it: why.
    Skipped(String),
}

impl Verdict {
    /// The verdict as a table cell word: same, differs, known, FAILED, skipped.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::Differs(_) => "differs",
            Verdict::Known { .. } => "known difference",
            Verdict::Failed(_) => "FAILED",
            Verdict::Skipped(_) => "skipped",
        }
    }

    /// Whether this verdict fails the differential run.
    pub fn is_failure(&self) -> bool {
        matches!(self, Verdict::Differs(_) | Verdict::Failed(_))
    }
}

/// One scenario's row.
#[derive(Debug, Clone)]
pub struct DiffRow {
    /// The scenario's result on side A (for its names and claims).
    pub scenario: ScenarioResult,
    /// The verdict.
    pub verdict: Verdict,
}

/// A differential run of two targets.
#[derive(Debug, Clone)]
pub struct DiffReport {
    /// Side A's target name.
    pub a: String,
    /// Side B's target name.
    pub b: String,
    /// One row per scenario, sorted by feature and line.
    pub rows: Vec<DiffRow>,
    /// Errors outside scenarios on either side.
    pub errors: Vec<String>,
}

fn outcome_side(side: &str, outcome: &Outcome) -> Option<Verdict> {
    match outcome {
        Outcome::Passed => None,
        Outcome::Failed(why) => Some(Verdict::Failed(format!("on {side}: {why}"))),
        Outcome::Skipped(why) => Some(Verdict::Skipped(format!("on {side}: {why}"))),
    }
}

/// The verdict for one scenario's two results.
fn verdict(
    a_name: &str,
    a: &ScenarioResult,
    b_name: &str,
    b: &ScenarioResult,
    known: &KnownDifferences,
) -> Verdict {
    // A failure anywhere matters more than a skip elsewhere.
    let a_side = outcome_side(a_name, &a.outcome);
    let b_side = outcome_side(b_name, &b.outcome);
    match (a_side, b_side) {
        (Some(v @ Verdict::Failed(_)), _) | (_, Some(v @ Verdict::Failed(_))) => return v,
        (Some(Verdict::Skipped(x)), Some(Verdict::Skipped(y))) => {
            return Verdict::Skipped(format!("{x}; {y}"));
        }
        (Some(v), _) | (_, Some(v)) => return v,
        (None, None) => {}
    }
    match compare(&a.trace, &b.trace) {
        TraceDiff::Same => Verdict::Same,
        diff => {
            let words = diff.describe(a_name, b_name);
            match known.reason(&RecordingId::of(a)) {
                Some(reason) => Verdict::Known {
                    reason: reason.to_owned(),
                    difference: words,
                },
                None => Verdict::Differs(words),
            }
        }
    }
}

/// The verdict for a scenario only one side ran (the features changed between the runs, or
/// a filter): its failure if it failed, else a skip naming the side that did not run it.
fn one_sided(ran_on: &str, result: &ScenarioResult, missing_on: &str) -> Verdict {
    match outcome_side(ran_on, &result.outcome) {
        Some(failed @ Verdict::Failed(_)) => failed,
        _ => Verdict::Skipped(format!("not run on {missing_on}")),
    }
}

impl DiffReport {
    /// Compares two runs of the same features.
    pub fn new(a: &Summary, b: &Summary, known: &KnownDifferences) -> DiffReport {
        let by_id = |summary: &Summary| -> BTreeMap<RecordingId, ScenarioResult> {
            summary
                .results
                .iter()
                .map(|r| (RecordingId::of(r), r.clone()))
                .collect()
        };
        let (a_results, b_results) = (by_id(a), by_id(b));
        let mut rows = Vec::new();
        for (id, a_result) in &a_results {
            let verdict = match b_results.get(id) {
                Some(b_result) => verdict(&a.target, a_result, &b.target, b_result, known),
                None => one_sided(&a.target, a_result, &b.target),
            };
            rows.push(DiffRow {
                scenario: a_result.clone(),
                verdict,
            });
        }
        for (id, b_result) in &b_results {
            if !a_results.contains_key(id) {
                rows.push(DiffRow {
                    scenario: b_result.clone(),
                    verdict: one_sided(&b.target, b_result, &a.target),
                });
            }
        }
        rows.sort_by(|x, y| {
            (&x.scenario.feature, x.scenario.line).cmp(&(&y.scenario.feature, y.scenario.line))
        });
        let mut errors: Vec<String> = a
            .errors
            .iter()
            .map(|e| format!("{}: {e}", a.target))
            .collect();
        errors.extend(b.errors.iter().map(|e| format!("{}: {e}", b.target)));
        DiffReport {
            a: a.target.clone(),
            b: b.target.clone(),
            rows,
            errors,
        }
    }

    fn count(&self, word: &str) -> usize {
        self.rows
            .iter()
            .filter(|r| r.verdict.word() == word)
            .count()
    }

    /// Whether nothing differs without a reason and nothing failed.
    pub fn succeeded(&self) -> bool {
        self.errors.is_empty() && !self.rows.iter().any(|r| r.verdict.is_failure())
    }

    /// `diff A vs B: N same, N differ, N known differences, N failed, N skipped`.
    pub fn closing_line(&self) -> String {
        format!(
            "diff {} vs {}: {} same, {} differ, {} known differences, {} failed, {} skipped",
            self.a,
            self.b,
            self.count("same"),
            self.count("differs"),
            self.count("known difference"),
            self.count("FAILED") + self.errors.len(),
            self.count("skipped")
        )
    }

    /// Per scenario, one line: `same`, `differs: <first differing observation>`,
    /// `skipped: <reason>` …; then errors and the closing line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Differential run: {} vs {}", self.a, self.b);
        let _ = writeln!(out);
        for row in &self.rows {
            let detail = match &row.verdict {
                Verdict::Same => String::new(),
                Verdict::Differs(why) | Verdict::Failed(why) | Verdict::Skipped(why) => {
                    format!(": {}", one_line(why))
                }
                Verdict::Known { reason, difference } => {
                    format!(": {reason} ({})", one_line(difference))
                }
            };
            let _ = writeln!(
                out,
                "{:<8} {} / {} (line {}){detail}",
                row.verdict.word(),
                row.scenario.feature,
                row.scenario.scenario,
                row.scenario.line
            );
        }
        for error in &self.errors {
            let _ = writeln!(out, "ERROR    {error}");
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", self.closing_line());
        out
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(scenario: &str, line: usize, outcome: Outcome, trace: &[&str]) -> ScenarioResult {
        ScenarioResult {
            file: "offsets".to_owned(),
            feature: "Offsets".to_owned(),
            scenario: scenario.to_owned(),
            line,
            column: 3,
            claims: vec!["C-OFF-1".to_owned()],
            folklore: false,
            outcome,
            trace: trace.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    fn summary(target: &str, results: Vec<ScenarioResult>) -> Summary {
        Summary {
            target: target.to_owned(),
            results,
            errors: vec![],
        }
    }

    #[test]
    fn every_scenario_gets_a_verdict() {
        let a = summary(
            "reference",
            vec![
                result("same", 1, Outcome::Passed, &["x", "y"]),
                result("differs", 2, Outcome::Passed, &["x", "y"]),
                result("fails", 3, Outcome::Passed, &[]),
                result("skips", 4, Outcome::Skipped("no faults".into()), &[]),
            ],
        );
        let b = summary(
            "kafka",
            vec![
                result("same", 1, Outcome::Passed, &["x", "y"]),
                result("differs", 2, Outcome::Passed, &["x", "z"]),
                result("fails", 3, Outcome::Failed("boom".into()), &[]),
                result("skips", 4, Outcome::Passed, &[]),
            ],
        );
        let report = DiffReport::new(&a, &b, &KnownDifferences::default());
        let words: Vec<&str> = report.rows.iter().map(|r| r.verdict.word()).collect();
        assert_eq!(words, ["same", "differs", "FAILED", "skipped"]);
        let text = report.render();
        assert!(
            text.contains(
                "differs  Offsets / differs (line 2): observation 2: reference `y`, kafka `z`"
            ),
            "{text}"
        );
        assert!(text.contains("skipped  Offsets / skips (line 4): on reference: no faults"));
        assert!(text.ends_with(
            "diff reference vs kafka: 1 same, 1 differ, 0 known differences, 1 failed, 1 skipped\n"
        ));
        assert!(!report.succeeded());

        // A scenario only one side ran still shows its failure.
        let b = summary(
            "kafka",
            vec![result("new", 9, Outcome::Failed("boom".into()), &[])],
        );
        let report = DiffReport::new(
            &summary("reference", vec![]),
            &b,
            &KnownDifferences::default(),
        );
        assert_eq!(report.rows[0].verdict.word(), "FAILED");
        assert!(!report.succeeded());
    }

    #[test]
    fn a_known_difference_does_not_fail_the_run() {
        let a = summary(
            "reference",
            vec![result("differs", 2, Outcome::Passed, &["x"])],
        );
        let b = summary("kafka", vec![result("differs", 2, Outcome::Passed, &["y"])]);
        let known = KnownDifferences::parse("offsets/differs: not modelled\n").expect("parses");
        let report = DiffReport::new(&a, &b, &known);
        assert_eq!(report.rows[0].verdict.word(), "known difference");
        assert!(report.succeeded());
    }
}
