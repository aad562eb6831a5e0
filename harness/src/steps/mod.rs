//! Step definitions, one module per concept, and the helpers they share.
//!
//! Rules every step follows: it speaks only the wire (librdkafka or [`crate::raw_client`]);
//! it returns [`crate::StepResult`] with the context of what it was doing; it never sleeps
//! for a fixed time to let something happen, but polls with a deadline and, when the
//! deadline passes, says what it saw last; it records what it observed in the trace.
//!
//! # Layout
//!
//! - [`topics`]: creating topics, partition counts, growing and shrinking.
//! - [`producing`]: librdkafka producer settings, sends, and delivery reports.
//! - [`consuming`]: what a partition holds and what consumers read, seeks.
//! - [`offsets`]: raw Produce responses, ListOffsets, raw Fetch errors.
//! - [`partitioning`]: where keyed, unkeyed and explicitly placed messages land.
//! - [`acks`]: what `acks=0` and `acks=1` mean on the wire.
//! - [`retention`]: bulk appends, log start offsets, offset resets.
//! - [`metadata`]: a topic as Metadata describes it, which the next four share; the
//!   cluster's brokers, and every broker describing a topic alike.
//! - [`placement`]: replication factors at creation, and where replicas and leaderships land.
//! - [`non_leader`]: what a follower, or a broker without a replica, answers.
//! - [`failover`]: stopping, freezing and restarting brokers; new leaders and in-sync
//!   replicas meanwhile.
//! - [`replicas`]: what the replicas hold after a failover, and leader-epoch fencing.
//! - [`retry`]: what the producer's statistics say about retries.
//! - [`faults`]: stopping brokers, and in-sync replicas while one is down.
//! - [`groups`]: consumer groups: members joining, leaving and failing, assignments once
//!   settled, rebalances, a group as a queue and groups as subscriptions.
//! - [`group_offsets`]: committed offsets per group, resuming after a restart,
//!   `auto.offset.reset`.
//! - [`exactly_once`]: what a partition holds of an idempotent producer's retried sends.
//! - [`transactions`]: transactional producers' commits and aborts, and what read_committed
//!   and read_uncommitted consumers see of them.
//!
//! # References
//!
//! - cucumber-rs book: <https://cucumber-rs.github.io/cucumber/main/>

pub mod acks;
pub mod admin;
pub mod consuming;
pub mod exactly_once;
pub mod failover;
pub mod faults;
pub mod group_offsets;
pub mod groups;
pub mod metadata;
pub mod non_leader;
pub mod offsets;
pub mod partitioning;
pub mod placement;
pub mod producing;
pub mod replicas;
pub mod retention;
pub mod retry;
pub mod topics;
pub mod transactions;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail};
use cucumber::gherkin::Step;
use tokio::time::Instant;

/// How long a step waits for something the cluster should do "soon" (a topic to appear, a
/// consumer to catch up).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a step re-asks while it waits.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The rows of a step's table with a header row, as maps from column name to cell.
pub fn table_rows(step: &Step) -> anyhow::Result<Vec<BTreeMap<String, String>>> {
    let table = step
        .table
        .as_ref()
        .ok_or_else(|| anyhow!("step {:?} needs a table", step.value))?;
    let mut rows = table.rows.iter();
    let header = rows
        .next()
        .ok_or_else(|| anyhow!("step {:?} has an empty table", step.value))?;
    Ok(rows
        .map(|row| {
            header
                .iter()
                .cloned()
                .zip(row.iter().map(|cell| cell.trim().to_owned()))
                .collect()
        })
        .collect())
}

/// The rows of a two-column table without a header: `| key | value |`.
pub fn table_pairs(step: &Step) -> anyhow::Result<Vec<(String, String)>> {
    let table = step
        .table
        .as_ref()
        .ok_or_else(|| anyhow!("step {:?} needs a table", step.value))?;
    table
        .rows
        .iter()
        .map(|row| match row.as_slice() {
            [key, value] => Ok((key.trim().to_owned(), value.trim().to_owned())),
            other => bail!("expected `| key | value |` rows, got {other:?}"),
        })
        .collect()
}

/// A required column of a table row.
pub fn cell<'a>(row: &'a BTreeMap<String, String>, column: &str) -> anyhow::Result<&'a str> {
    row.get(column)
        .map(String::as_str)
        .ok_or_else(|| anyhow!("table row {row:?} lacks column {column:?}"))
}

/// A required numeric column of a table row.
pub fn number<T: std::str::FromStr>(
    row: &BTreeMap<String, String>,
    column: &str,
) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    let text = cell(row, column)?;
    text.parse()
        .map_err(|e| anyhow!("column {column:?}: {text:?} is not a number: {e}"))
}

/// `"pay-1, pay-2"` → `["pay-1", "pay-2"]`.
pub fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

/// `"order-1"` to `"order-30"` → `order-1`, `order-2`, … `order-30`: a shared prefix and a
/// numeric range.
pub fn numbered_range(first: &str, last: &str) -> anyhow::Result<Vec<String>> {
    let split = |s: &str| -> anyhow::Result<(String, u64)> {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (prefix, number) = s.split_at(s.len() - digits);
        let number = number
            .parse()
            .map_err(|_| anyhow!("{s:?} does not end in a number"))?;
        Ok((prefix.to_owned(), number))
    };
    let (prefix, from) = split(first)?;
    let (last_prefix, to) = split(last)?;
    anyhow::ensure!(
        prefix == last_prefix && from <= to,
        "{first:?} to {last:?} is not a numbered range"
    );
    Ok((from..=to).map(|n| format!("{prefix}{n}")).collect())
}

/// [`numbered_range`], which must hold `count` values (a step that names both).
pub fn numbered_range_of(first: &str, last: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let values = numbered_range(first, last)?;
    anyhow::ensure!(
        values.len() == count,
        "{first:?} to {last:?} is not {count} messages"
    );
    Ok(values)
}

/// `"a", "b", "c"` (a quoted, comma-separated list) → `[a, b, c]`.
pub fn quoted_list(text: &str) -> anyhow::Result<Vec<String>> {
    let items: Vec<String> = text
        .split(',')
        .map(|item| {
            let item = item.trim();
            item.strip_prefix('"')
                .and_then(|i| i.strip_suffix('"'))
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("{item:?} is not a quoted string"))
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!items.is_empty(), "empty list {text:?}");
    Ok(items)
}

/// A deadline for a step that polls: between two looks, [`Deadline::wait`] sleeps a little,
/// or fails with what the step saw last once the time is up.
pub struct Deadline {
    at: Instant,
    timeout: Duration,
    what: String,
}

impl Deadline {
    /// A deadline `timeout` from now for waiting on `what`.
    pub fn after(timeout: Duration, what: impl Into<String>) -> Deadline {
        Deadline {
            at: Instant::now() + timeout,
            timeout,
            what: what.into(),
        }
    }

    /// The instant it expires.
    pub fn instant(&self) -> Instant {
        self.at
    }

    /// Whether the time is up.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Sleeps before the next look, or fails naming `last_seen` when the time is up.
    pub async fn wait(&self, last_seen: impl std::fmt::Display) -> anyhow::Result<()> {
        if self.passed() {
            bail!(
                "waited {:?} for {}; last saw {last_seen}",
                self.timeout,
                self.what
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_lists_parse() {
        assert_eq!(
            numbered_range("order-1", "order-3").expect("range"),
            vec!["order-1", "order-2", "order-3"]
        );
        assert!(numbered_range("order-3", "payment-4").is_err());
        assert_eq!(
            quoted_list(r#""alice", "bob""#).expect("list"),
            vec!["alice", "bob"]
        );
        assert_eq!(comma_list("pay-1, pay-2"), vec!["pay-1", "pay-2"]);
    }
}
