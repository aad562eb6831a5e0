//! The anomalies a queue history shows, by the names Jepsen's Kafka workload gives them.
//!
//! # What is checked
//!
//! From every poll (and every acknowledged send that must have been visible) the analysis
//! builds each partition's log: offset → the values seen there. Then:
//!
//! - **inconsistent-offsets**: one offset of a partition seen with two different values
//!   (by polls, or by a poll and an acknowledgement); or an acknowledged value that was
//!   polled, but never at its acknowledged offset although polls reached that offset.
//! - **duplicate**: one sent value at two offsets (or in two partitions).
//! - **lost-write**: an acknowledged send that no poll ever returned, although some poll
//!   returned that partition's offset of the send or a later one (so the send should have
//!   been seen); or acknowledged at or beyond the partition's end observed once every send
//!   had its outcome ([`Op::LogEnd`]). An acknowledged value that is neither seen nor
//!   decidable so is counted as `unseen`, which is not an anomaly.
//! - **poll-skip**: two successive polls of one partition by one consumer, within one
//!   session (no assign or rebalance between them), jump over offsets that the log shows
//!   hold values (offsets nobody ever saw, such as transaction markers, are not gaps).
//!   **int-poll-skip** is the same between two records of one poll.
//! - **nonmonotonic-poll**: a consumer's next poll of a partition, in one session, starts at
//!   or before where its previous poll ended; **int-nonmonotonic-poll** within one poll.
//! - **nonmonotonic-send**: one producer's acknowledged offsets on one partition going
//!   backwards (or repeating), in the order it sent.
//! - **G1a** (aborted read): a polled value whose send certainly failed, or whose
//!   transaction aborted.
//! - **precommitted-read**: a polled value whose transaction's commit was invoked only after
//!   the poll returned (read_committed consumers must never see uncommitted records). Jepsen
//!   defines it as a transaction polling its own sends; the history here keeps polls out of
//!   transactions, so this is its wall-clock form: derivable only when the history has
//!   transactions ([`Op::TxnEnd`] with `invoked_ms`), never flagged otherwise.
//! - **unknown-value** (not a Jepsen name; Jepsen stops with `:no-writer-of`): a polled value
//!   that no send in the history wrote.
//!
//! **G0 / G1c** (cycles of write-write and write-read dependencies between transactions)
//! are not derived: they need transactions that both poll and send (consume-transform-
//! produce), and this history's transactions only send. Jepsen itself allows G0 in Kafka's
//! model (writes are never isolated).
//!
//! # References
//!
//! - Jepsen's Kafka workload, `jepsen.tests.kafka` (its namespace documentation, "Analysis",
//!   and its checker's error names), and <https://jepsen.io/analyses/redpanda-21.10.1>.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use super::history::{History, Op, Poll, ProcessId, Send, SendOutcome, TxnId, TxnOutcome};

/// Examples kept per anomaly (the count is always complete).
pub const MAX_EXAMPLES: usize = 5;

/// An anomaly, by Jepsen's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Anomaly {
    /// An acknowledged send never polled, though later offsets were.
    LostWrite,
    /// One value at two offsets.
    Duplicate,
    /// One offset with two values, or a value polled away from its acknowledged offset.
    InconsistentOffsets,
    /// Successive polls of a consumer jumping over offsets that hold values.
    PollSkip,
    /// Two records of one poll jumping over offsets that hold values.
    IntPollSkip,
    /// Successive polls of a consumer going backwards (or repeating).
    NonmonotonicPoll,
    /// Two records of one poll going backwards (or repeating).
    IntNonmonotonicPoll,
    /// A producer's acknowledged offsets going backwards.
    NonmonotonicSend,
    /// A value of a failed send or an aborted transaction polled.
    G1a,
    /// A transaction's value polled before its commit was invoked.
    PrecommittedRead,
    /// A polled value that nobody sent.
    UnknownValue,
}

impl Anomaly {
    /// Every anomaly, in the order reports list them.
    pub const ALL: [Anomaly; 11] = [
        Anomaly::LostWrite,
        Anomaly::Duplicate,
        Anomaly::InconsistentOffsets,
        Anomaly::PollSkip,
        Anomaly::IntPollSkip,
        Anomaly::NonmonotonicPoll,
        Anomaly::IntNonmonotonicPoll,
        Anomaly::NonmonotonicSend,
        Anomaly::G1a,
        Anomaly::PrecommittedRead,
        Anomaly::UnknownValue,
    ];

    /// Jepsen's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::LostWrite => "lost-write",
            Anomaly::Duplicate => "duplicate",
            Anomaly::InconsistentOffsets => "inconsistent-offsets",
            Anomaly::PollSkip => "poll-skip",
            Anomaly::IntPollSkip => "int-poll-skip",
            Anomaly::NonmonotonicPoll => "nonmonotonic-poll",
            Anomaly::IntNonmonotonicPoll => "int-nonmonotonic-poll",
            Anomaly::NonmonotonicSend => "nonmonotonic-send",
            Anomaly::G1a => "G1a",
            Anomaly::PrecommittedRead => "precommitted-read",
            Anomaly::UnknownValue => "unknown-value",
        }
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How often one anomaly occurred, with the first few cases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finding {
    /// Every case.
    pub count: usize,
    /// The first [`MAX_EXAMPLES`] cases, described.
    pub examples: Vec<String>,
}

/// What the history holds, beyond anomalies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sends acknowledged with an offset.
    pub acked: usize,
    /// Sends that certainly failed.
    pub failed: usize,
    /// Sends whose outcome is unknown.
    pub unknown: usize,
    /// Polls (each of one partition) that returned records.
    pub polls: usize,
    /// Records those polls returned.
    pub records_polled: usize,
    /// Acknowledged values never polled, where that is not decidable as lost.
    pub unseen: usize,
    /// Transactions committed.
    pub committed: usize,
    /// Transactions aborted.
    pub aborted: usize,
    /// Transactions whose end is not known.
    pub txn_unknown: usize,
}

/// The anomalies of one history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    findings: BTreeMap<Anomaly, Finding>,
    /// Counts of what the history holds.
    pub stats: Stats,
}

impl Analysis {
    /// How many cases of `anomaly` were found.
    pub fn count(&self, anomaly: Anomaly) -> usize {
        self.findings.get(&anomaly).map_or(0, |f| f.count)
    }

    /// The cases of `anomaly`, if any.
    pub fn finding(&self, anomaly: Anomaly) -> Option<&Finding> {
        self.findings.get(&anomaly)
    }

    /// Cases of every anomaly together.
    pub fn total(&self) -> usize {
        self.findings.values().map(|f| f.count).sum()
    }

    /// The anomalies found, each with its cases.
    pub fn found(&self) -> impl Iterator<Item = (Anomaly, &Finding)> {
        self.findings
            .iter()
            .filter(|(_, f)| f.count > 0)
            .map(|(a, f)| (*a, f))
    }

    fn report(&mut self, anomaly: Anomaly, example: impl FnOnce() -> String) {
        let finding = self.findings.entry(anomaly).or_default();
        finding.count += 1;
        if finding.examples.len() < MAX_EXAMPLES {
            finding.examples.push(example());
        }
    }
}

impl fmt::Display for Analysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "anomalies (Jepsen's names):")?;
        for anomaly in Anomaly::ALL {
            writeln!(f, "  {:<22} {}", anomaly.name(), self.count(anomaly))?;
        }
        for (anomaly, finding) in self.found() {
            writeln!(f, "{anomaly}, for example:")?;
            for example in &finding.examples {
                writeln!(f, "  - {example}")?;
            }
        }
        Ok(())
    }
}

/// A partition's log as the history shows it: offset → values seen there.
type Log<'h> = BTreeMap<i64, BTreeSet<&'h str>>;

/// What the checks look things up in.
#[derive(Default)]
struct Index<'h> {
    /// How each transaction ended, and when its end was invoked.
    txn_ends: HashMap<(ProcessId, TxnId), (TxnOutcome, u64)>,
    /// Transactions some of whose values were polled (so they must have committed).
    txn_seen: BTreeSet<(ProcessId, TxnId)>,
    /// The (first) send of each value.
    writer: HashMap<&'h str, &'h Send>,
    /// Each partition's log.
    logs: BTreeMap<i32, Log<'h>>,
    /// Where each value was polled: `(partition, offset)`.
    polled_at: HashMap<&'h str, BTreeSet<(i32, i64)>>,
    /// The highest offset polled per partition.
    max_polled: HashMap<i32, i64>,
    /// Each partition's end, observed after every send had its outcome.
    log_end: HashMap<i32, i64>,
}

impl<'h> Index<'h> {
    fn build(history: &'h History, stats: &mut Stats) -> Index<'h> {
        let mut index = Index::default();
        for op in history.ops() {
            match op {
                Op::TxnEnd {
                    producer,
                    txn,
                    outcome,
                    invoked_ms,
                } => {
                    index
                        .txn_ends
                        .insert((*producer, *txn), (*outcome, *invoked_ms));
                    match outcome {
                        TxnOutcome::Committed => stats.committed += 1,
                        TxnOutcome::Aborted => stats.aborted += 1,
                        TxnOutcome::Unknown => stats.txn_unknown += 1,
                    }
                }
                Op::Poll(poll) => index.add_poll(poll, stats),
                Op::Send(send) => {
                    index.writer.entry(send.value.as_str()).or_insert(send);
                    match send.outcome {
                        SendOutcome::Acked { .. } => stats.acked += 1,
                        SendOutcome::Failed => stats.failed += 1,
                        SendOutcome::Unknown => stats.unknown += 1,
                    }
                }
                Op::LogEnd {
                    partition,
                    end_offset,
                } => {
                    index.log_end.insert(*partition, *end_offset);
                }
                Op::Assign { .. } | Op::Rebalance { .. } | Op::TxnBegin { .. } => {}
            }
        }
        for poll in history.polls() {
            for (_, value) in &poll.records {
                if let Some(Send {
                    producer,
                    txn: Some(txn),
                    ..
                }) = index.writer.get(value.as_str())
                {
                    index.txn_seen.insert((*producer, *txn));
                }
            }
        }
        // Acknowledged sends that must have been visible place their value in the log.
        for send in history.sends() {
            if let (SendOutcome::Acked { offset }, true) = (send.outcome, index.visible(send)) {
                index
                    .logs
                    .entry(send.partition)
                    .or_default()
                    .entry(offset)
                    .or_default()
                    .insert(send.value.as_str());
            }
        }
        index
    }

    fn add_poll(&mut self, poll: &'h Poll, stats: &mut Stats) {
        if poll.records.is_empty() {
            return;
        }
        stats.polls += 1;
        stats.records_polled += poll.records.len();
        let log = self.logs.entry(poll.partition).or_default();
        for (offset, value) in &poll.records {
            log.entry(*offset).or_default().insert(value.as_str());
            self.polled_at
                .entry(value.as_str())
                .or_default()
                .insert((poll.partition, *offset));
            let max = self.max_polled.entry(poll.partition).or_insert(*offset);
            *max = (*max).max(*offset);
        }
    }

    /// Whether a send's record must be visible to read_committed consumers: it is outside
    /// any transaction, or its transaction committed (or was seen, so it must have).
    fn visible(&self, send: &Send) -> bool {
        match send.txn {
            None => true,
            Some(txn) => {
                let key = (send.producer, txn);
                matches!(self.txn_ends.get(&key), Some((TxnOutcome::Committed, _)))
                    || self.txn_seen.contains(&key)
            }
        }
    }

    /// Offsets strictly between `from` and `to` that the log shows hold values.
    fn known_between(&self, partition: i32, from: i64, to: i64) -> Vec<i64> {
        if to <= from.saturating_add(1) {
            return Vec::new();
        }
        self.logs
            .get(&partition)
            .map(|log| log.range(from + 1..to).map(|(o, _)| *o).collect())
            .unwrap_or_default()
    }
}

/// Finds every anomaly of the history.
pub fn analyse(history: &History) -> Analysis {
    let mut analysis = Analysis::default();
    let index = Index::build(history, &mut analysis.stats);
    check_offsets(&index, &mut analysis);
    check_duplicates(&index, &mut analysis);
    check_lost_writes(history, &index, &mut analysis);
    check_reads(history, &index, &mut analysis);
    check_polls(history, &index, &mut analysis);
    check_sends(history, &mut analysis);
    analysis
}

/// inconsistent-offsets.
fn check_offsets(index: &Index<'_>, analysis: &mut Analysis) {
    for (partition, log) in &index.logs {
        for (offset, values) in log {
            if values.len() > 1 {
                analysis.report(Anomaly::InconsistentOffsets, || {
                    format!("partition {partition} offset {offset} holds {values:?}")
                });
            }
        }
    }
    for send in index.writer.values() {
        let SendOutcome::Acked { offset } = send.outcome else {
            continue;
        };
        let Some(places) = index.polled_at.get(send.value.as_str()) else {
            continue;
        };
        let reached = index
            .max_polled
            .get(&send.partition)
            .is_some_and(|max| *max >= offset);
        if reached && index.visible(send) && !places.contains(&(send.partition, offset)) {
            analysis.report(Anomaly::InconsistentOffsets, || {
                format!(
                    "{:?} acknowledged at partition {} offset {offset} but polled at \
                     (partition, offset) {places:?}",
                    send.value, send.partition
                )
            });
        }
    }
}

/// duplicate.
fn check_duplicates(index: &Index<'_>, analysis: &mut Analysis) {
    let mut places: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for (partition, log) in &index.logs {
        for (offset, values) in log {
            for value in values {
                places.entry(value).or_default().push((*partition, *offset));
            }
        }
    }
    for (value, at) in places {
        if at.len() > 1 {
            analysis.report(Anomaly::Duplicate, || {
                format!("{value:?} at (partition, offset) {at:?}")
            });
        }
    }
}

/// lost-write, and the count of undecidable unseen values.
fn check_lost_writes(history: &History, index: &Index<'_>, analysis: &mut Analysis) {
    for send in history.sends() {
        let SendOutcome::Acked { offset } = send.outcome else {
            continue;
        };
        if index.polled_at.contains_key(send.value.as_str()) || !index.visible(send) {
            continue;
        }
        let max_polled = index.max_polled.get(&send.partition).copied();
        let end = index.log_end.get(&send.partition).copied();
        if let Some(max) = max_polled.filter(|max| *max >= offset) {
            analysis.report(Anomaly::LostWrite, || {
                format!(
                    "{:?} acknowledged at partition {} offset {offset}, never polled, though \
                     offset {max} was",
                    send.value, send.partition
                )
            });
        } else if let Some(end) = end.filter(|end| *end <= offset) {
            analysis.report(Anomaly::LostWrite, || {
                format!(
                    "{:?} acknowledged at partition {} offset {offset}, but the partition \
                     ends at {end}",
                    send.value, send.partition
                )
            });
        } else {
            analysis.stats.unseen += 1;
        }
    }
}

/// G1a, precommitted-read, unknown-value: what each polled value's writer says of it.
fn check_reads(history: &History, index: &Index<'_>, analysis: &mut Analysis) {
    for poll in history.polls() {
        for (offset, value) in &poll.records {
            let Some(send) = index.writer.get(value.as_str()) else {
                analysis.report(Anomaly::UnknownValue, || {
                    format!(
                        "consumer {} polled {value:?} at partition {} offset {offset}, which \
                         nobody sent",
                        poll.consumer, poll.partition
                    )
                });
                continue;
            };
            if send.outcome == SendOutcome::Failed {
                analysis.report(Anomaly::G1a, || {
                    format!(
                        "consumer {} polled {value:?} (partition {} offset {offset}), whose \
                         send failed",
                        poll.consumer, poll.partition
                    )
                });
            }
            let Some(txn) = send.txn else { continue };
            match index.txn_ends.get(&(send.producer, txn)) {
                Some((TxnOutcome::Aborted, _)) => analysis.report(Anomaly::G1a, || {
                    format!(
                        "consumer {} polled {value:?} (partition {} offset {offset}) of \
                         producer {}'s aborted transaction {txn}",
                        poll.consumer, poll.partition, send.producer
                    )
                }),
                Some((_, invoked_ms)) if *invoked_ms > poll.at_ms => {
                    analysis.report(Anomaly::PrecommittedRead, || {
                        format!(
                            "consumer {} polled {value:?} at {} ms; producer {} ended \
                             transaction {txn} only at {invoked_ms} ms",
                            poll.consumer, poll.at_ms, send.producer
                        )
                    });
                }
                _ => {}
            }
        }
    }
}

/// Where a consumer's session last read each partition.
type Positions = HashMap<i32, i64>;

/// poll-skip, int-poll-skip, nonmonotonic-poll, int-nonmonotonic-poll.
fn check_polls(history: &History, index: &Index<'_>, analysis: &mut Analysis) {
    let mut sessions: HashMap<ProcessId, Positions> = HashMap::new();
    for op in history.ops() {
        match op {
            Op::Assign { consumer, .. } | Op::Rebalance { consumer, .. } => {
                sessions.remove(consumer);
            }
            Op::Poll(poll) => {
                let positions = sessions.entry(poll.consumer).or_default();
                check_poll(poll, positions, index, analysis);
            }
            _ => {}
        }
    }
}

fn check_poll(poll: &Poll, positions: &mut Positions, index: &Index<'_>, analysis: &mut Analysis) {
    let (Some((first, _)), Some((last, _))) = (poll.records.first(), poll.records.last()) else {
        return;
    };
    let (consumer, partition) = (poll.consumer, poll.partition);
    for pair in poll.records.windows(2) {
        let (from, to) = (pair[0].0, pair[1].0);
        step(index, analysis, partition, from, to, true, || {
            format!("consumer {consumer} partition {partition}: one poll")
        });
    }
    if let Some(previous) = positions.get(&partition) {
        step(index, analysis, partition, *previous, *first, false, || {
            format!("consumer {consumer} partition {partition}: successive polls")
        });
    }
    positions.insert(partition, *last);
}

/// One step of a consumer from offset `from` to offset `to`: a skip, a step back, or fine.
fn step(
    index: &Index<'_>,
    analysis: &mut Analysis,
    partition: i32,
    from: i64,
    to: i64,
    internal: bool,
    context: impl FnOnce() -> String,
) {
    let (skip, backwards) = if internal {
        (Anomaly::IntPollSkip, Anomaly::IntNonmonotonicPoll)
    } else {
        (Anomaly::PollSkip, Anomaly::NonmonotonicPoll)
    };
    if to <= from {
        analysis.report(backwards, || {
            format!("{}: offset {from} then {to}", context())
        });
        return;
    }
    let skipped = index.known_between(partition, from, to);
    if !skipped.is_empty() {
        analysis.report(skip, || {
            format!(
                "{}: offset {from} then {to}, skipping {} offset(s) holding values: {:?}",
                context(),
                skipped.len(),
                &skipped[..skipped.len().min(8)]
            )
        });
    }
}

/// nonmonotonic-send.
fn check_sends(history: &History, analysis: &mut Analysis) {
    let mut last: HashMap<(ProcessId, i32), (i64, &str)> = HashMap::new();
    for send in history.sends() {
        let SendOutcome::Acked { offset } = send.outcome else {
            continue;
        };
        let key = (send.producer, send.partition);
        if let Some((previous, previous_value)) = last.get(&key)
            && offset <= *previous
        {
            analysis.report(Anomaly::NonmonotonicSend, || {
                format!(
                    "producer {} partition {}: {previous_value:?} acknowledged at {previous}, \
                     then {:?} (sent later) at {offset}",
                    send.producer, send.partition, send.value
                )
            });
        }
        last.insert(key, (offset, send.value.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::history::{Send, TxnOutcome};

    fn ack(offset: i64) -> SendOutcome {
        SendOutcome::Acked { offset }
    }

    /// Two producers on two partitions, two consumers reading all of it in two polls each.
    fn clean() -> History {
        let mut h = History::new();
        h.push(Op::Assign {
            consumer: 10,
            partitions: vec![0, 1],
        });
        h.push(Op::Assign {
            consumer: 11,
            partitions: vec![0, 1],
        });
        h.send(1, 0, "1-0", ack(0));
        h.send(1, 0, "1-1", ack(1));
        h.send(2, 0, "2-0", ack(2));
        h.send(2, 1, "2-1", ack(0));
        h.send(1, 1, "1-2", ack(1));
        h.send(1, 0, "1-3", ack(3));
        h.send(2, 1, "2-2", SendOutcome::Unknown);
        h.send(2, 1, "2-3", SendOutcome::Failed);
        for consumer in [10, 11] {
            h.poll(consumer, 0, &[(0, "1-0"), (1, "1-1")], 5);
            h.poll(consumer, 1, &[(0, "2-1")], 6);
            h.poll(consumer, 0, &[(2, "2-0"), (3, "1-3")], 7);
            h.poll(consumer, 1, &[(1, "1-2")], 8);
        }
        h.push(Op::LogEnd {
            partition: 0,
            end_offset: 4,
        });
        h.push(Op::LogEnd {
            partition: 1,
            end_offset: 2,
        });
        h
    }

    fn only(analysis: &Analysis, expected: &[Anomaly]) {
        for anomaly in Anomaly::ALL {
            let count = analysis.count(anomaly);
            if expected.contains(&anomaly) {
                assert!(count > 0, "expected {anomaly}; got:\n{analysis}");
            } else {
                assert_eq!(count, 0, "unexpected {anomaly}:\n{analysis}");
            }
        }
    }

    #[test]
    fn a_clean_history_has_no_anomaly() {
        let analysis = analyse(&clean());
        assert_eq!(analysis.total(), 0, "{analysis}");
        assert_eq!(
            analysis.stats,
            Stats {
                acked: 6,
                failed: 1,
                unknown: 1,
                polls: 8,
                records_polled: 12,
                unseen: 0,
                committed: 0,
                aborted: 0,
                txn_unknown: 0,
            }
        );
    }

    #[test]
    fn an_acknowledged_send_nobody_polled_below_a_polled_offset_is_lost() {
        let mut h = clean();
        h.send(1, 0, "1-4", ack(4));
        h.send(2, 0, "2-4", ack(5));
        h.poll(10, 0, &[(5, "2-4")], 9);
        let analysis = analyse(&h);
        assert_eq!(analysis.count(Anomaly::LostWrite), 1, "{analysis}");
        // Consumer 10 jumped over offset 4, which an acknowledgement says holds a value.
        only(&analysis, &[Anomaly::LostWrite, Anomaly::PollSkip]);
        assert!(
            analysis.finding(Anomaly::LostWrite).unwrap().examples[0].contains("\"1-4\""),
            "{analysis}"
        );
    }

    #[test]
    fn an_acknowledged_send_beyond_the_final_end_of_the_log_is_lost() {
        let mut h = clean();
        // Acknowledged at 7 on partition 1, which ends at 2 once everything was sent.
        h.send(1, 1, "1-9", ack(7));
        let analysis = analyse(&h);
        only(&analysis, &[Anomaly::LostWrite]);
    }

    #[test]
    fn an_acknowledged_send_beyond_every_poll_and_no_end_is_only_unseen() {
        let mut h = History::new();
        h.send(1, 0, "a", ack(0));
        h.send(1, 0, "b", ack(1));
        h.poll(10, 0, &[(0, "a")], 1);
        let analysis = analyse(&h);
        assert_eq!(analysis.total(), 0, "{analysis}");
        assert_eq!(analysis.stats.unseen, 1);
    }

    #[test]
    fn one_value_at_two_offsets_is_a_duplicate() {
        let mut h = clean();
        // A retried send written twice: acknowledged at 4, also at 5.
        h.send(1, 0, "1-4", ack(5));
        h.poll(10, 0, &[(4, "1-4"), (5, "1-4")], 9);
        let analysis = analyse(&h);
        assert_eq!(analysis.count(Anomaly::Duplicate), 1, "{analysis}");
        only(&analysis, &[Anomaly::Duplicate]);
    }

    #[test]
    fn one_offset_with_two_values_is_inconsistent() {
        let mut h = clean();
        h.send(1, 0, "1-4", ack(4));
        h.poll(10, 0, &[(4, "1-4")], 9);
        h.send(2, 0, "2-9", SendOutcome::Unknown);
        h.poll(11, 0, &[(4, "2-9")], 9);
        let analysis = analyse(&h);
        assert_eq!(
            analysis.count(Anomaly::InconsistentOffsets),
            1,
            "{analysis}"
        );
        only(&analysis, &[Anomaly::InconsistentOffsets]);
    }

    #[test]
    fn a_value_polled_away_from_its_acknowledged_offset_is_inconsistent() {
        let mut h = History::new();
        h.send(1, 0, "a", ack(0));
        h.send(1, 0, "b", ack(1));
        // Offset 1 is never polled with a value; "b" turns up at 2.
        h.poll(10, 0, &[(0, "a"), (2, "b")], 1);
        let analysis = analyse(&h);
        // The acknowledged offset differs from where it was polled; "b" is thus also at two
        // offsets, and the poll jumped over offset 1.
        only(
            &analysis,
            &[
                Anomaly::InconsistentOffsets,
                Anomaly::Duplicate,
                Anomaly::IntPollSkip,
            ],
        );
        assert!(
            analysis
                .finding(Anomaly::InconsistentOffsets)
                .unwrap()
                .examples[0]
                .contains("acknowledged at partition 0 offset 1"),
            "{analysis}"
        );
    }

    #[test]
    fn successive_polls_jumping_over_what_others_saw_are_a_poll_skip() {
        let mut h = clean();
        h.send(1, 0, "1-4", ack(4));
        h.send(1, 0, "1-5", ack(5));
        h.poll(11, 0, &[(4, "1-4"), (5, "1-5")], 9);
        // Consumer 10 saw offset 3 last, then 5: it skipped 4, which consumer 11 saw.
        h.poll(10, 0, &[(5, "1-5")], 9);
        let analysis = analyse(&h);
        assert_eq!(analysis.count(Anomaly::PollSkip), 1, "{analysis}");
        only(&analysis, &[Anomaly::PollSkip]);
    }

    #[test]
    fn a_gap_nobody_saw_a_value_in_is_no_skip() {
        let mut h = History::new();
        h.send(1, 0, "a", ack(0));
        h.send(1, 0, "b", ack(2));
        // Offset 1 holds a transaction marker (or nothing anyone saw): not a skip.
        h.poll(10, 0, &[(0, "a")], 1);
        h.poll(10, 0, &[(2, "b")], 2);
        assert_eq!(analyse(&h).total(), 0);
    }

    #[test]
    fn a_skip_within_one_poll_is_an_int_poll_skip() {
        let mut h = clean();
        h.send(1, 0, "1-4", ack(4));
        h.send(1, 0, "1-5", ack(5));
        h.poll(11, 0, &[(4, "1-4"), (5, "1-5")], 9);
        h.poll(10, 0, &[(4, "1-4")], 9);
        h.push(Op::Assign {
            consumer: 10,
            partitions: vec![0],
        });
        h.poll(10, 0, &[(3, "1-3"), (5, "1-5")], 9);
        only(&analyse(&h), &[Anomaly::IntPollSkip]);
    }

    #[test]
    fn polls_going_backwards_in_one_session_are_nonmonotonic() {
        let mut h = clean();
        // Consumer 10 read up to offset 3 of partition 0, then offset 1 again.
        h.poll(10, 0, &[(1, "1-1")], 9);
        let analysis = analyse(&h);
        assert_eq!(analysis.count(Anomaly::NonmonotonicPoll), 1, "{analysis}");
        only(&analysis, &[Anomaly::NonmonotonicPoll]);
    }

    #[test]
    fn polls_going_backwards_after_an_assign_or_a_rebalance_are_fine() {
        let mut h = clean();
        h.push(Op::Assign {
            consumer: 10,
            partitions: vec![0],
        });
        h.poll(10, 0, &[(1, "1-1")], 9);
        h.push(Op::Rebalance {
            consumer: 11,
            partitions: vec![0, 1],
        });
        h.poll(11, 0, &[(0, "1-0")], 9);
        assert_eq!(analyse(&h).total(), 0);
    }

    #[test]
    fn a_repeat_within_one_poll_is_int_nonmonotonic() {
        let mut h = History::new();
        h.send(1, 0, "a", ack(0));
        h.send(1, 0, "b", ack(1));
        h.poll(10, 0, &[(0, "a"), (1, "b"), (1, "b")], 1);
        only(&analyse(&h), &[Anomaly::IntNonmonotonicPoll]);
    }

    #[test]
    fn a_producers_acknowledged_offsets_going_backwards_are_nonmonotonic() {
        let mut h = History::new();
        h.send(1, 0, "a", ack(1));
        h.send(1, 0, "b", ack(0));
        // Another producer's offsets interleave freely; another partition is separate.
        h.send(2, 0, "c", ack(2));
        h.send(1, 1, "d", ack(0));
        h.poll(10, 0, &[(0, "b"), (1, "a"), (2, "c")], 1);
        h.poll(10, 1, &[(0, "d")], 1);
        let analysis = analyse(&h);
        assert_eq!(analysis.count(Anomaly::NonmonotonicSend), 1, "{analysis}");
        only(&analysis, &[Anomaly::NonmonotonicSend]);
    }

    #[test]
    fn a_polled_value_of_a_failed_send_or_an_aborted_transaction_is_g1a() {
        let mut h = History::new();
        h.send(1, 0, "failed", SendOutcome::Failed);
        h.push(Op::TxnBegin {
            producer: 2,
            txn: 7,
        });
        h.push(Op::Send(Send {
            producer: 2,
            partition: 0,
            value: "aborted".to_owned(),
            outcome: ack(1),
            txn: Some(7),
        }));
        h.push(Op::TxnEnd {
            producer: 2,
            txn: 7,
            outcome: TxnOutcome::Aborted,
            invoked_ms: 3,
        });
        h.poll(10, 0, &[(0, "failed")], 10);
        h.poll(11, 0, &[(1, "aborted")], 10);
        let analysis = analyse(&h);
        assert_eq!(analysis.count(Anomaly::G1a), 2, "{analysis}");
        only(&analysis, &[Anomaly::G1a]);
        let s = analysis.stats;
        assert_eq!((s.committed, s.aborted, s.txn_unknown), (0, 1, 0));
    }

    #[test]
    fn an_aborted_transactions_values_are_not_lost_when_unseen() {
        let mut h = History::new();
        h.push(Op::Send(Send {
            producer: 2,
            partition: 0,
            value: "aborted".to_owned(),
            outcome: ack(0),
            txn: Some(7),
        }));
        h.push(Op::TxnEnd {
            producer: 2,
            txn: 7,
            outcome: TxnOutcome::Aborted,
            invoked_ms: 3,
        });
        h.send(1, 0, "a", ack(2));
        h.poll(10, 0, &[(2, "a")], 10);
        let analysis = analyse(&h);
        assert_eq!(analysis.total(), 0, "{analysis}");
    }

    #[test]
    fn a_value_polled_before_its_transaction_committed_is_a_precommitted_read() {
        let mut h = History::new();
        for (value, offset) in [("t-0", 0), ("t-1", 1)] {
            h.push(Op::Send(Send {
                producer: 2,
                partition: 0,
                value: value.to_owned(),
                outcome: ack(offset),
                txn: Some(1),
            }));
        }
        h.push(Op::TxnEnd {
            producer: 2,
            txn: 1,
            outcome: TxnOutcome::Committed,
            invoked_ms: 50,
        });
        h.poll(10, 0, &[(0, "t-0")], 20);
        h.poll(11, 0, &[(0, "t-0"), (1, "t-1")], 60);
        let analysis = analyse(&h);
        assert_eq!(analysis.count(Anomaly::PrecommittedRead), 1, "{analysis}");
        only(&analysis, &[Anomaly::PrecommittedRead]);
    }

    #[test]
    fn a_polled_value_nobody_sent_is_an_unknown_value() {
        let mut h = clean();
        h.poll(10, 1, &[(2, "garbage")], 9);
        only(&analyse(&h), &[Anomaly::UnknownValue]);
    }

    #[test]
    fn examples_are_bounded_and_counts_are_not() {
        let mut h = History::new();
        for i in 0..20 {
            h.send(1, 0, format!("v{i}"), ack(i));
        }
        h.poll(10, 0, &[(30, "v19")], 1);
        h.push(Op::LogEnd {
            partition: 0,
            end_offset: 31,
        });
        let analysis = analyse(&h);
        let lost = analysis.finding(Anomaly::LostWrite).expect("lost writes");
        assert_eq!(lost.count, 19);
        assert_eq!(lost.examples.len(), MAX_EXAMPLES);
        let text = analysis.to_string();
        assert!(text.contains("lost-write             19"), "{text}");
    }
}
