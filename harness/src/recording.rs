//! Recorded traces of real Apache Kafka, and comparing a run with them.
//!
//! `kafka-spec record` runs every scenario against real Kafka (`kafka-local`) and writes each
//! passing scenario's trace to `fixtures/traces/kafka-<version>/<feature file>/<slug>.trace`,
//! the slug made from the scenario's name. Plain `cargo test` runs the scenarios against the
//! reference broker and [`check_summary`] compares each trace with its recording: a
//! difference fails that scenario with the first differing observation, so a change in the
//! reference's behaviour shows even on a machine with no Java.
//!
//! The policy, explicitly:
//!
//! - a scenario that passed on the reference and has **no recording** fails, naming the
//!   command that records it (`kafka-spec record --missing`), unless
//!   `KAFKA_SPEC_ALLOW_UNRECORDED=1` (for a scenario being written; CI never sets it);
//! - a recording that **no scenario matches** (renamed, deleted) is an error of the run;
//! - a difference listed in `known-differences.txt` beside the recordings, with its one-line
//!   reason, is reported as known and does not fail; anything else that differs fails;
//! - scenarios skipped on the reference (a capability it lacks) are not compared.
//!
//! A trace file is the trace, one observation per line, after comment lines (`#`) that say
//! where it came from; comments are ignored when comparing.
//!
//! # References
//!
//! - `fixtures/README.md` (layout, commands), [`crate::observation`] (what a line is).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::report::{Outcome, ScenarioResult, Summary};

/// Where recordings of one Kafka version live, under the workspace's `fixtures/`.
pub fn recordings_dir(version: &str) -> PathBuf {
    crate::workspace_dir()
        .join("fixtures")
        .join("traces")
        .join(format!("kafka-{version}"))
}

/// Recordings of the Kafka version `ci/kafka/pom.xml` pins.
pub fn pinned_recordings_dir() -> anyhow::Result<(String, PathBuf)> {
    let version = crate::target::kafka_local::pinned_kafka_version(
        &crate::target::kafka_local::default_scripts_dir(),
    )?;
    let dir = recordings_dir(&version);
    Ok((version, dir))
}

/// The file that lists accepted differences, beside the recordings.
pub const KNOWN_DIFFERENCES_FILE: &str = "known-differences.txt";

/// The environment variable that lets a scenario without a recording pass (with a warning).
pub const ALLOW_UNRECORDED_ENV: &str = "KAFKA_SPEC_ALLOW_UNRECORDED";

/// The command that records scenarios that have no recording yet.
pub const RECORD_MISSING_COMMAND: &str = "cargo run --release -- record --missing";

/// A scenario name as a file name: lower-case ASCII letters and digits, everything else a
/// single `-`, at most [`MAX_SLUG_LEN`] bytes.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_owned();
    if out.len() > MAX_SLUG_LEN {
        out.truncate(MAX_SLUG_LEN);
        out = out.trim_end_matches('-').to_owned();
    }
    out
}

/// The longest slug (file names stay readable and well under file system limits).
pub const MAX_SLUG_LEN: usize = 120;

/// A scenario's identity among recordings: its feature file and the slug of its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordingId {
    /// The feature file's stem (`offsets`).
    pub file: String,
    /// [`slug`] of the scenario's name.
    pub slug: String,
}

impl RecordingId {
    /// The id of a scenario's result.
    pub fn of(result: &ScenarioResult) -> RecordingId {
        RecordingId {
            file: result.file.clone(),
            slug: slug(&result.scenario),
        }
    }

    /// Its trace file under a recordings directory.
    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.file).join(format!("{}.trace", self.slug))
    }
}

impl fmt::Display for RecordingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.file, self.slug)
    }
}

/// The observation lines of a trace file (comments and blank lines dropped).
pub fn parse_trace(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// A recording's observations, `None` if there is no file.
pub fn read_recording(dir: &Path, id: &RecordingId) -> anyhow::Result<Option<Vec<String>>> {
    let path = id.path(dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(parse_trace(&text))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// A trace file's text: where it came from, then one observation per line.
pub fn render_recording(result: &ScenarioResult, source: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!("# {source}\n"));
    out.push_str(&format!(
        "# {} ({}.feature) / {}\n",
        result.feature, result.file, result.scenario
    ));
    for line in &result.trace {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Writes a scenario's trace as its recording; returns the file written.
pub fn write_recording(
    dir: &Path,
    result: &ScenarioResult,
    source: &str,
) -> anyhow::Result<PathBuf> {
    let path = RecordingId::of(result).path(dir);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, render_recording(result, source))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Every recording under a directory.
pub fn recorded_ids(dir: &Path) -> anyhow::Result<BTreeSet<RecordingId>> {
    let mut ids = BTreeSet::new();
    let Ok(files) = std::fs::read_dir(dir) else {
        return Ok(ids);
    };
    for file in files {
        let file = file.with_context(|| format!("listing {}", dir.display()))?;
        if !file.path().is_dir() {
            continue;
        }
        let feature = file.file_name().to_string_lossy().into_owned();
        for entry in std::fs::read_dir(file.path())
            .with_context(|| format!("listing {}", file.path().display()))?
        {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(slug) = name.strip_suffix(".trace") {
                ids.insert(RecordingId {
                    file: feature.clone(),
                    slug: slug.to_owned(),
                });
            }
        }
    }
    Ok(ids)
}

/// Where two traces part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceDiff {
    /// Line for line the same.
    Same,
    /// The first differing observation, 1-based; `None` where one trace had already ended.
    Differs {
        line: usize,
        expected: Option<String>,
        actual: Option<String>,
    },
}

/// Compares a trace with the one expected of it.
pub fn compare(expected: &[String], actual: &[String]) -> TraceDiff {
    let longest = expected.len().max(actual.len());
    for index in 0..longest {
        let (e, a) = (expected.get(index), actual.get(index));
        if e != a {
            return TraceDiff::Differs {
                line: index + 1,
                expected: e.cloned(),
                actual: a.cloned(),
            };
        }
    }
    TraceDiff::Same
}

impl TraceDiff {
    /// The difference in words, naming the two sides.
    pub fn describe(&self, expected_side: &str, actual_side: &str) -> String {
        match self {
            TraceDiff::Same => "same".to_owned(),
            TraceDiff::Differs {
                line,
                expected,
                actual,
            } => {
                let show = |l: &Option<String>| {
                    l.as_ref()
                        .map_or_else(|| "(trace ended)".to_owned(), |l| format!("`{l}`"))
                };
                format!(
                    "observation {line}: {expected_side} {}, {actual_side} {}",
                    show(expected),
                    show(actual)
                )
            }
        }
    }
}

/// Differences accepted with a reason: `known-differences.txt`, lines of
/// `<feature file>/<slug>: <one-line reason>`, `#` comments.
#[derive(Debug, Clone, Default)]
pub struct KnownDifferences(BTreeMap<RecordingId, String>);

impl KnownDifferences {
    /// Reads the file beside the recordings (none: nothing is accepted).
    pub fn load(dir: &Path) -> anyhow::Result<KnownDifferences> {
        let path = dir.join(KNOWN_DIFFERENCES_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
        };
        KnownDifferences::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> anyhow::Result<KnownDifferences> {
        let mut known = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, reason) = line
                .split_once(':')
                .with_context(|| format!("{line:?} is not `<feature>/<slug>: <reason>`"))?;
            let (file, slug) = id
                .trim()
                .split_once('/')
                .with_context(|| format!("{id:?} is not `<feature>/<slug>`"))?;
            anyhow::ensure!(
                !reason.trim().is_empty(),
                "{id}: a known difference needs its reason"
            );
            known.insert(
                RecordingId {
                    file: file.to_owned(),
                    slug: slug.to_owned(),
                },
                reason.trim().to_owned(),
            );
        }
        Ok(KnownDifferences(known))
    }

    /// Why a scenario's difference is accepted, if it is.
    pub fn reason(&self, id: &RecordingId) -> Option<&str> {
        self.0.get(id).map(String::as_str)
    }

    /// Every accepted difference.
    pub fn iter(&self) -> impl Iterator<Item = (&RecordingId, &str)> {
        self.0.iter().map(|(id, reason)| (id, reason.as_str()))
    }
}

/// Scenario names that collide as recordings (two scenarios of one feature file with the
/// same slug): each is an error, since one recording would stand for both.
pub fn colliding_ids(results: &[ScenarioResult]) -> Vec<String> {
    let mut seen: BTreeMap<RecordingId, &str> = BTreeMap::new();
    let mut errors = Vec::new();
    for result in results {
        let id = RecordingId::of(result);
        if let Some(other) = seen.insert(id.clone(), &result.scenario) {
            errors.push(format!(
                "scenarios {other:?} and {:?} of {}.feature are both recorded as {id}: rename one",
                result.scenario, result.file
            ));
        }
    }
    errors
}

/// What comparing a run with the recordings found.
#[derive(Debug, Clone, Default)]
pub struct RecordingCheck {
    /// Where the recordings are.
    pub dir: PathBuf,
    /// Scenarios compared (passed here, recorded there).
    pub compared: usize,
    /// Of those, the same.
    pub same: usize,
    /// Of those, different (each failed in the summary).
    pub differs: Vec<(RecordingId, String)>,
    /// Of those, different as `known-differences.txt` accepts, with the reason.
    pub known: Vec<(RecordingId, String)>,
    /// Passed here with no recording.
    pub missing: Vec<RecordingId>,
    /// Recordings no scenario of the run matches.
    pub stale: Vec<RecordingId>,
    /// Not compared: skipped or failed here.
    pub not_compared: usize,
}

impl RecordingCheck {
    /// One line: `recordings of Kafka 4.3.1 (dir): N compared, N same, N differ, N known, N
    /// missing, N stale, N not compared`.
    pub fn line(&self, version: &str) -> String {
        format!(
            "recordings of Kafka {version} ({}): {} compared, {} same, {} differ, {} known \
             differences, {} missing, {} stale, {} not compared (skipped or failed here)",
            self.dir.display(),
            self.compared,
            self.same,
            self.differs.len(),
            self.known.len(),
            self.missing.len(),
            self.stale.len(),
            self.not_compared
        )
    }
}

/// How strictly [`check_summary`] treats what is missing.
#[derive(Debug, Clone, Copy)]
pub struct CheckPolicy {
    /// A scenario without a recording passes (with a warning) instead of failing.
    pub allow_missing: bool,
    /// Recordings that no scenario matches are errors (only meaningful for a full run).
    pub report_stale: bool,
}

/// Compares every passed scenario's trace with its recording in `dir`; turns each
/// unaccepted difference and (unless allowed) each missing recording into a failure of that
/// scenario, and each stale recording into an error of the run.
pub fn check_summary(
    summary: &mut Summary,
    dir: &Path,
    policy: CheckPolicy,
) -> anyhow::Result<RecordingCheck> {
    let known = KnownDifferences::load(dir)?;
    let mut check = RecordingCheck {
        dir: dir.to_path_buf(),
        ..RecordingCheck::default()
    };
    summary.errors.extend(colliding_ids(&summary.results));
    for result in &mut summary.results {
        let id = RecordingId::of(result);
        if result.outcome != Outcome::Passed {
            check.not_compared += 1;
            continue;
        }
        let Some(expected) = read_recording(dir, &id)? else {
            check.missing.push(id.clone());
            if !policy.allow_missing {
                result.outcome = Outcome::Failed(format!(
                    "no recording of real Kafka for this scenario ({}); record it with `{}` \
                     (needs Java 17+; fixtures/README.md)",
                    id.path(dir).display(),
                    RECORD_MISSING_COMMAND
                ));
            }
            continue;
        };
        check.compared += 1;
        match compare(&expected, &result.trace) {
            TraceDiff::Same => check.same += 1,
            diff => {
                let words = diff.describe("Kafka recorded", "this run saw");
                if let Some(reason) = known.reason(&id) {
                    check.known.push((id, reason.to_owned()));
                } else {
                    result.outcome = Outcome::Failed(format!(
                        "the trace differs from real Kafka's recording {} at {words}",
                        id.path(dir).display()
                    ));
                    check.differs.push((id, words));
                }
            }
        }
    }
    if policy.report_stale {
        let present: BTreeSet<RecordingId> = summary.results.iter().map(RecordingId::of).collect();
        for id in recorded_ids(dir)? {
            if !present.contains(&id) {
                summary.errors.push(format!(
                    "recording {} matches no scenario: delete it, or record again with \
                     `cargo run --release -- record`",
                    id.path(dir).display()
                ));
                check.stale.push(id);
            }
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(file: &str, scenario: &str, trace: &[&str]) -> ScenarioResult {
        ScenarioResult {
            file: file.to_owned(),
            feature: "Offsets".to_owned(),
            scenario: scenario.to_owned(),
            line: 10,
            column: 3,
            claims: vec!["C-OFF-1".to_owned()],
            folklore: false,
            outcome: Outcome::Passed,
            trace: trace.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    #[test]
    fn slugs_are_plain_file_names() {
        assert_eq!(
            slug("A keyed message goes to hash(key) mod partitions: zürich over 6"),
            "a-keyed-message-goes-to-hash-key-mod-partitions-z-rich-over-6"
        );
        assert_eq!(slug("  acks=0: nothing! "), "acks-0-nothing");
        assert!(slug(&"x".repeat(500)).len() <= MAX_SLUG_LEN);
    }

    #[test]
    fn the_first_differing_observation_is_named() {
        let expected = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(compare(&expected, &expected), TraceDiff::Same);
        let diff = compare(&expected, &["a".to_owned(), "c".to_owned()]);
        assert_eq!(
            diff.describe("Kafka", "reference"),
            "observation 2: Kafka `b`, reference `c`"
        );
        let shorter = compare(&expected, &["a".to_owned()]);
        assert_eq!(
            shorter.describe("Kafka", "reference"),
            "observation 2: Kafka `b`, reference (trace ended)"
        );
    }

    #[test]
    fn known_differences_need_a_reason() {
        let known = KnownDifferences::parse(
            "# accepted\noffsets/some-scenario: the reference does not model X\n",
        )
        .expect("parses");
        let id = RecordingId {
            file: "offsets".to_owned(),
            slug: "some-scenario".to_owned(),
        };
        assert_eq!(known.reason(&id), Some("the reference does not model X"));
        assert!(KnownDifferences::parse("offsets/x:   \n").is_err());
        assert!(KnownDifferences::parse("no colon here\n").is_err());
    }

    /// The committed recording of a real scenario, fed back unchanged, is the same; with one
    /// observation altered, the scenario fails and the failure names that observation.
    #[test]
    fn an_altered_trace_differs_from_the_committed_recording() {
        let (_, dir) = pinned_recordings_dir().expect("pinned version");
        let name = "Offsets count up from 0 in each partition separately";
        let id = RecordingId {
            file: "offsets".to_owned(),
            slug: slug(name),
        };
        let recorded = read_recording(&dir, &id)
            .expect("readable")
            .unwrap_or_else(|| panic!("{} is committed", id.path(&dir).display()));
        assert!(recorded.len() > 3, "{recorded:?}");
        let policy = CheckPolicy {
            allow_missing: false,
            report_stale: false,
        };

        let lines: Vec<&str> = recorded.iter().map(String::as_str).collect();
        let mut summary = Summary {
            target: "reference".to_owned(),
            results: vec![result("offsets", name, &lines)],
            errors: vec![],
        };
        let check = check_summary(&mut summary, &dir, policy).expect("checks");
        assert_eq!((check.compared, check.same), (1, 1));
        assert!(summary.succeeded());

        let mut altered = recorded.clone();
        altered[2] = altered[2].replace("offset=0", "offset=1");
        assert_ne!(
            altered[2], recorded[2],
            "the third observation names offset 0"
        );
        let lines: Vec<&str> = altered.iter().map(String::as_str).collect();
        let mut summary = Summary {
            target: "reference".to_owned(),
            results: vec![result("offsets", name, &lines)],
            errors: vec![],
        };
        let check = check_summary(&mut summary, &dir, policy).expect("checks");
        assert_eq!(check.differs.len(), 1);
        assert!(!summary.succeeded());
        let Outcome::Failed(why) = &summary.results[0].outcome else {
            panic!(
                "an altered trace must fail: {:?}",
                summary.results[0].outcome
            );
        };
        assert!(why.contains("observation 3"), "{why}");
        assert!(
            why.contains(&recorded[2]) && why.contains(&altered[2]),
            "{why}"
        );
    }

    #[test]
    fn a_scenario_without_a_recording_fails_naming_the_command() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut summary = Summary {
            target: "reference".to_owned(),
            results: vec![result("offsets", "Brand new", &["x"])],
            errors: vec![],
        };
        let policy = CheckPolicy {
            allow_missing: false,
            report_stale: true,
        };
        let check = check_summary(&mut summary, dir.path(), policy).expect("checks");
        assert_eq!(check.missing.len(), 1);
        let Outcome::Failed(why) = &summary.results[0].outcome else {
            panic!("missing recordings fail");
        };
        assert!(why.contains(RECORD_MISSING_COMMAND), "{why}");

        // A recording nobody matches is stale.
        let stale = RecordingId {
            file: "offsets".to_owned(),
            slug: "gone".to_owned(),
        };
        std::fs::create_dir_all(dir.path().join("offsets")).expect("dir");
        std::fs::write(stale.path(dir.path()), "x\n").expect("file");
        let mut summary = Summary {
            target: "reference".to_owned(),
            results: vec![],
            errors: vec![],
        };
        let check = check_summary(&mut summary, dir.path(), policy).expect("checks");
        assert_eq!(check.stale, vec![stale]);
        assert_eq!(summary.errors.len(), 1);
    }
}
