//! The conformance report: every claim of the catalogue, the scenarios that check it, and
//! their results on the reference and on real Apache Kafka, as Markdown.
//!
//! It is written by `kafka-spec diff --report FILE` from the runs it just made (the
//! reference as side A, each real-Kafka target as a side B), so the results and the trace
//! comparison in it are of one moment. The claim ids and sentences come from the claims
//! catalogue (`../shared/CLAIMS.md` beside the repository); without it, the report lists
//! the claims the features tag. Nothing in it depends on timing or on the machine, so
//! regenerating it changes it only when behaviour or the spec changed.
//!
//! # References
//!
//! - `DESIGN.md`, "Reports: a conformance matrix (scenario × target)".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::diff::{DiffReport, Verdict};
use crate::recording::{KnownDifferences, RecordingId};
use crate::report::{Outcome, ScenarioResult, Summary};

/// One claim of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// `C-OFF-2`.
    pub id: String,
    /// The claim's sentence.
    pub text: String,
}

/// Where the claims catalogue is in this workplace: `../shared/CLAIMS.md` beside the
/// repository.
pub fn default_claims_path() -> PathBuf {
    let workspace = crate::workspace_dir();
    workspace
        .parent()
        .unwrap_or(&workspace)
        .join("shared")
        .join("CLAIMS.md")
}

/// The claims of a catalogue's table rows (`| C-XXX-N | sentence | note |`), in order.
pub fn parse_claims(markdown: &str) -> Vec<Claim> {
    markdown
        .lines()
        .filter_map(|line| {
            let mut cells = line.trim().strip_prefix('|')?.split('|').map(str::trim);
            let id = cells.next()?;
            let text = cells.next()?;
            let is_id = id.starts_with("C-") && !id.contains(' ');
            is_id.then(|| Claim {
                id: id.to_owned(),
                text: text.to_owned(),
            })
        })
        .collect()
}

/// What goes into a report.
#[derive(Debug)]
pub struct ConformanceInput<'a> {
    /// The reference's run (`reference:3` in the committed report).
    pub reference: &'a Summary,
    /// Each real-Kafka run, with its comparison to the reference.
    pub kafka: Vec<(&'a Summary, &'a DiffReport)>,
    /// The claims catalogue, if it was found.
    pub claims: Option<Vec<Claim>>,
    /// Differences accepted with a reason.
    pub known: &'a KnownDifferences,
    /// The command that regenerates the report.
    pub command: &'a str,
}

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn result_cell(result: Option<&ScenarioResult>) -> String {
    match result.map(|r| &r.outcome) {
        None => "not run".to_owned(),
        Some(Outcome::Passed) => "passed".to_owned(),
        Some(Outcome::Failed(why)) => format!("**FAILED**: {}", cell(why)),
        Some(Outcome::Skipped(why)) => {
            // The column names the target: "needs X, which <target> does not have" → "needs X".
            let why = why.split(", which ").next().unwrap_or(why);
            format!("skipped: {}", cell(why))
        }
    }
}

fn verdict_cell(verdict: Option<&Verdict>) -> String {
    match verdict {
        None => "–".to_owned(),
        Some(Verdict::Same) => "same".to_owned(),
        Some(Verdict::Differs(why)) => format!("**differs**: {}", cell(why)),
        Some(Verdict::Known { reason, .. }) => format!("known difference: {}", cell(reason)),
        Some(Verdict::Failed(_)) => "–".to_owned(),
        Some(Verdict::Skipped(_)) => "–".to_owned(),
    }
}

/// The report's Markdown.
pub fn render(input: &ConformanceInput<'_>) -> String {
    let index = |summary: &Summary| -> BTreeMap<RecordingId, ScenarioResult> {
        summary
            .results
            .iter()
            .map(|r| (RecordingId::of(r), r.clone()))
            .collect()
    };
    let reference = index(input.reference);
    let kafka: Vec<BTreeMap<RecordingId, ScenarioResult>> =
        input.kafka.iter().map(|(s, _)| index(s)).collect();
    let verdicts: Vec<BTreeMap<RecordingId, Verdict>> = input
        .kafka
        .iter()
        .map(|(_, d)| {
            d.rows
                .iter()
                .map(|r| (RecordingId::of(&r.scenario), r.verdict.clone()))
                .collect()
        })
        .collect();

    // Every scenario once, in feature and line order.
    let mut scenarios: BTreeMap<RecordingId, ScenarioResult> = BTreeMap::new();
    for map in std::iter::once(&reference).chain(kafka.iter()) {
        for (id, result) in map {
            scenarios
                .entry(id.clone())
                .or_insert_with(|| result.clone());
        }
    }
    let mut ordered: Vec<(&RecordingId, &ScenarioResult)> = scenarios.iter().collect();
    ordered.sort_by(|a, b| (&a.1.file, a.1.line).cmp(&(&b.1.file, b.1.line)));

    let mut by_claim: BTreeMap<String, Vec<&RecordingId>> = BTreeMap::new();
    let mut unclaimed = Vec::new();
    for (id, result) in &ordered {
        if result.claims.is_empty() {
            unclaimed.push(*id);
        }
        for claim in &result.claims {
            by_claim.entry(claim.clone()).or_default().push(id);
        }
    }
    let claims: Vec<Claim> = match &input.claims {
        Some(claims) => {
            let mut all = claims.clone();
            let listed: BTreeSet<&str> = claims.iter().map(|c| c.id.as_str()).collect();
            for id in by_claim.keys() {
                if !listed.contains(id.as_str()) {
                    all.push(Claim {
                        id: id.clone(),
                        text: "(not in the claims catalogue)".to_owned(),
                    });
                }
            }
            all
        }
        None => by_claim
            .keys()
            .map(|id| Claim {
                id: id.clone(),
                text: String::new(),
            })
            .collect(),
    };

    let mut out = String::new();
    let _ = writeln!(out, "# Conformance report\n");
    let _ = writeln!(
        out,
        "Generated by `{}`; do not edit by hand. Every claim of the claims catalogue, the \
         scenarios that check it, and each scenario's result on the reference and on \
         real Apache Kafka. *Traces* says whether the reference observed exactly what Kafka \
         observed (the same offsets, partitions, error codes and records, step by step), or \
         where they first part.\n",
        input.command
    );
    if input.claims.is_none() {
        let _ = writeln!(
            out,
            "The claims catalogue (`../shared/CLAIMS.md`) was not found: only the claims the \
             features tag are listed.\n"
        );
    }

    let _ = writeln!(out, "| run | passed | failed | skipped |");
    let _ = writeln!(out, "|---|---|---|---|");
    for summary in std::iter::once(input.reference).chain(input.kafka.iter().map(|(s, _)| *s)) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&summary.target),
            summary.passed(),
            summary.failed(),
            summary.skipped()
        );
    }
    let _ = writeln!(out);
    for (_, diff) in &input.kafka {
        let _ = writeln!(out, "- {}", diff.closing_line());
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "## Claims\n");
    let mut header = "| claim | scenario | reference |".to_owned();
    let mut rule = "|---|---|---|".to_owned();
    for (summary, _) in &input.kafka {
        header.push_str(&format!(" {} |", cell(&summary.target)));
        rule.push_str("---|");
    }
    header.push_str(" traces, reference vs each Kafka run |");
    rule.push_str("---|");
    let _ = writeln!(out, "{header}\n{rule}");
    for claim in &claims {
        let claim_cell = if claim.text.is_empty() {
            format!("**{}**", claim.id)
        } else {
            format!("**{}** {}", claim.id, cell(&claim.text))
        };
        let Some(ids) = by_claim.get(&claim.id) else {
            let empty = " |".repeat(input.kafka.len() + 1);
            let _ = writeln!(out, "| {claim_cell} | *no scenario yet* |{empty} |");
            continue;
        };
        for (n, id) in ids.iter().enumerate() {
            let result = &scenarios[*id];
            let first = if n == 0 { claim_cell.as_str() } else { "" };
            let folklore = if result.folklore { " *(folklore)*" } else { "" };
            let mut row = format!(
                "| {first} | [{}: {}]({}.feature#L{}){folklore} | {} |",
                cell(&result.feature),
                cell(&result.scenario),
                result.file,
                result.line,
                result_cell(reference.get(*id))
            );
            for map in &kafka {
                row.push_str(&format!(" {} |", result_cell(map.get(*id))));
            }
            let traces: Vec<String> = verdicts.iter().map(|v| verdict_cell(v.get(*id))).collect();
            row.push_str(&format!(" {} |", traces.join("; ")));
            let _ = writeln!(out, "{row}");
        }
    }
    if !unclaimed.is_empty() {
        let _ = writeln!(out, "\nScenarios that tag no claim:\n");
        for id in unclaimed {
            let result = &scenarios[id];
            let _ = writeln!(out, "- {} / {}", result.feature, result.scenario);
        }
    }

    let _ = writeln!(out, "\n## Differences from real Kafka\n");
    let known: Vec<(&RecordingId, &str)> = input.known.iter().collect();
    let differing: Vec<String> = input
        .kafka
        .iter()
        .flat_map(|(_, diff)| {
            diff.rows.iter().filter_map(|row| match &row.verdict {
                Verdict::Differs(why) => Some(format!(
                    "- **{} / {}** on {}: {}",
                    row.scenario.feature,
                    row.scenario.scenario,
                    diff.b,
                    cell(why)
                )),
                _ => None,
            })
        })
        .collect();
    if known.is_empty() && differing.is_empty() {
        let _ = writeln!(
            out,
            "None: on every scenario both ran, the reference observed what Kafka observed."
        );
    }
    for line in differing {
        let _ = writeln!(out, "{line}");
    }
    if !known.is_empty() {
        let _ = writeln!(
            out,
            "Accepted, each a behaviour the reference deliberately does not model \
             (`known-differences.txt` beside the recordings):\n"
        );
        for (id, reason) in known {
            let _ = writeln!(out, "- `{id}`: {reason}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_from_the_catalogue_table() {
        let claims = parse_claims(
            "| id | claim (seed file) | note |\n|---|---|---|\n\
             | C-TOP-1 | Producers publish to a topic (000) | |\n\
             | C-OFF-4 | Committed offset semantics | suspect |\n",
        );
        assert_eq!(
            claims,
            vec![
                Claim {
                    id: "C-TOP-1".to_owned(),
                    text: "Producers publish to a topic (000)".to_owned()
                },
                Claim {
                    id: "C-OFF-4".to_owned(),
                    text: "Committed offset semantics".to_owned()
                }
            ]
        );
    }

    #[test]
    fn every_claim_is_listed_with_its_scenarios_and_results() {
        let scenario = |outcome: Outcome| ScenarioResult {
            file: "offsets".to_owned(),
            feature: "Offsets".to_owned(),
            scenario: "Offsets count up".to_owned(),
            line: 10,
            column: 3,
            claims: vec!["C-OFF-1".to_owned()],
            folklore: false,
            outcome,
            trace: vec!["x".to_owned()],
        };
        let reference = Summary {
            target: "reference".to_owned(),
            results: vec![scenario(Outcome::Passed)],
            errors: vec![],
        };
        let kafka = Summary {
            target: "kafka-local (Kafka 4.3.1, 1 node)".to_owned(),
            results: vec![scenario(Outcome::Passed)],
            errors: vec![],
        };
        let known = KnownDifferences::default();
        let diff = DiffReport::new(&reference, &kafka, &known);
        let claims = parse_claims("| C-OFF-1 | Offsets count | |\n| C-GRP-1 | Groups | |\n");
        let text = render(&ConformanceInput {
            reference: &reference,
            kafka: vec![(&kafka, &diff)],
            claims: Some(claims),
            known: &known,
            command: "kafka-spec diff",
        });
        assert!(
            text.contains(
                "| **C-OFF-1** Offsets count | [Offsets: Offsets count up](offsets.feature#L10) | passed | passed | same |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| **C-GRP-1** Groups | *no scenario yet* |"),
            "{text}"
        );
        assert!(text.contains("None: on every scenario both ran"), "{text}");
    }
}
