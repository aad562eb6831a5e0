//! Consumer groups: members joining, leaving and failing, who owns which partitions once the
//! group has settled, what a rebalance revoked, and a group as a queue or a subscription.
//!
//! Members are [`crate::group_client::Member`]s: subscribed librdkafka consumers named `C1`,
//! `C2` … (their `client.id`), in groups with logical names mapped to a group id unique to
//! the scenario. A group has *settled* when its coordinator describes it `Stable` with the
//! expected number of members, every member is one of the scenario's running consumers and
//! owns (in its rebalance callbacks) exactly what the coordinator says the leader assigned
//! it, and every partition of the subscribed topics is owned exactly once; the same, twice
//! in a row. Every settle is kept as a snapshot, so that steps about a
//! rebalance compare the last two.
//!
//! What is deterministic, and so what traces record: with dynamic members the broker
//! generates member ids and the assignors sort members by them, so *which* consumer gets
//! which range varies from run to run; the multiset of assignments does not. With static
//! members (`group.instance.id` = the consumer's name) librdkafka's and Java's assignors sort
//! by instance id, so the exact assignment per consumer is deterministic.
//!
//! # References
//!
//! - Kafka documentation, "Consumers" and "Consumer Configs"; KIP-62, KIP-345, KIP-429.
//! - librdkafka `INTRODUCTION.md`, "Consumer groups", "Static consumer groups",
//!   "Incremental rebalancing".

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use super::producing::{Outgoing, send_all};
use super::{Deadline, cell, comma_list, numbered_range, table_pairs, table_rows};
use crate::group_client::{
    COORDINATOR_BACKOFF, COORDINATOR_DEADLINE, CoordinatorNotReady, GroupView, Groups, Member,
    MemberSpec, RAW_MEMBER_CLIENT_ID, RebalanceEvent, Snapshot, TopicPartition, describe_group,
    find_coordinator, raw_member_joins,
};
use crate::observation::Observation;
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// How long a group may take to settle after members join or leave (each join or leave is
/// a rebalance; members learn of it from their next heartbeat, every 300 ms).
pub const GROUP_SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a step waits for members to receive records.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(15);

/// Records an observation about a group.
pub fn note(world: &mut KafkaWorld, group: &str, what: impl Into<String>) {
    world.record(Observation::Group {
        group: group.to_owned(),
        what: what.into(),
    });
}

/// `1 partition`, `2 partitions`.
fn count_of(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `C1, C2 and C3` → `[C1, C2, C3]`.
fn names(list: &str) -> Vec<String> {
    comma_list(&list.replace(" and ", ", "))
}

/// Partitions as traces show them: `orders[0,1]`, several topics one after another,
/// `nothing` when empty.
pub fn show_partitions(world: &KafkaWorld, partitions: &BTreeSet<TopicPartition>) -> String {
    if partitions.is_empty() {
        return "nothing".to_owned();
    }
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic
            .entry(world.logical(topic))
            .or_default()
            .push(*partition);
    }
    by_topic
        .iter()
        .map(|(topic, ps)| {
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{topic}[{}]", ps.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A table cell of partition numbers: `0, 1`, or `none`.
fn partition_numbers(text: &str) -> anyhow::Result<Vec<i32>> {
    if text == "none" {
        return Ok(Vec::new());
    }
    let mut numbers = comma_list(text)
        .iter()
        .map(|p| {
            p.parse()
                .map_err(|_| anyhow!("{p:?} is not a partition number"))
        })
        .collect::<anyhow::Result<Vec<i32>>>()?;
    numbers.sort_unstable();
    Ok(numbers)
}

/// The one topic (logical, physical) a group's members subscribe to.
fn single_topic(world: &KafkaWorld, group: &str) -> anyhow::Result<(String, String)> {
    let topics: BTreeSet<&(String, String)> = world
        .groups
        .specs
        .values()
        .filter(|s| s.group == group)
        .flat_map(|s| s.topics.iter())
        .collect();
    match topics.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => Ok((*one).clone()),
        other => bail!("group {group}'s members subscribe to {other:?}, not to one topic"),
    }
}

/// Every partition of the topics a group's running members subscribe to.
fn subscribed_partitions(
    world: &KafkaWorld,
    group: &str,
) -> anyhow::Result<BTreeSet<TopicPartition>> {
    let mut all = BTreeSet::new();
    for member in world.groups.running_in(group) {
        let spec = world
            .groups
            .specs
            .get(&member.name)
            .ok_or_else(|| anyhow!("no spec for {}", member.name))?;
        for (logical, physical) in &spec.topics {
            for partition in 0..world.partition_count(logical)? {
                all.insert((physical.clone(), partition));
            }
        }
    }
    Ok(all)
}

/// Starts a member, with its group's and its own settings.
async fn start_member(
    world: &mut KafkaWorld,
    name: &str,
    group: &str,
    topics: &[String],
) -> anyhow::Result<()> {
    if let Some(existing) = world.groups.members.get(name) {
        anyhow::ensure!(!existing.is_running(), "consumer {name} is already running");
    }
    let mut settings = world
        .groups
        .group_settings
        .get(group)
        .cloned()
        .unwrap_or_default();
    settings.extend(
        world
            .groups
            .consumer_settings
            .get(name)
            .cloned()
            .unwrap_or_default(),
    );
    let spec = MemberSpec {
        name: name.to_owned(),
        group: group.to_owned(),
        group_id: world.group_id(group),
        topics: topics
            .iter()
            .map(|logical| (logical.clone(), world.physical(logical)))
            .collect(),
        settings,
        is_static: world.groups.static_groups.contains(group),
        java: world.groups.java_groups.contains(group),
    };
    start_spec(world, spec).await
}

/// Starts a member from its spec and records that it joined.
pub async fn start_spec(world: &mut KafkaWorld, spec: MemberSpec) -> anyhow::Result<()> {
    let bootstrap = world.bootstrap()?;
    let member = Member::start(&bootstrap, spec.clone()).await?;
    let topics: Vec<&str> = spec.topics.iter().map(|(l, _)| l.as_str()).collect();
    note(
        world,
        &spec.group,
        format!("{} subscribed to {}", spec.name, topics.join(", ")),
    );
    world.groups.members.insert(spec.name.clone(), member);
    world.groups.specs.insert(spec.name.clone(), spec);
    Ok(())
}

/// Closes a member and waits until it is closed.
pub async fn close_member(world: &mut KafkaWorld, name: &str) -> anyhow::Result<()> {
    world.groups.member_mut(name)?.close().await
}

/// The address of a group's coordinator (FindCoordinator on any broker, retried until
/// `until` while the coordinator is not available or loading).
async fn coordinator_address(
    world: &mut KafkaWorld,
    group: &str,
    until: Instant,
) -> anyhow::Result<String> {
    let group_id = world.group_id(group);
    let address = {
        let connection = world.raw()?.any_broker().await?;
        find_coordinator(connection, &group_id, until).await
    };
    if address.as_ref().is_err_and(|e| !CoordinatorNotReady::is(e)) {
        world.reconnect();
    }
    address
}

/// Runs `request` (given the scenario's groups and the coordinator's address) on a group's
/// coordinator. While the coordinator is not ready ([`CoordinatorNotReady`]: not available,
/// loading, or no longer the coordinator) it finds the coordinator again and retries, as
/// clients do, until [`COORDINATOR_DEADLINE`]. Nothing is recorded here: only what the
/// caller makes of the final answer.
pub async fn on_coordinator<T>(
    world: &mut KafkaWorld,
    group: &str,
    mut request: impl AsyncFnMut(&mut Groups, &str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let until = Instant::now() + COORDINATOR_DEADLINE;
    loop {
        let address = coordinator_address(world, group, until).await?;
        match request(&mut world.groups, &address).await {
            Err(error) if CoordinatorNotReady::is(&error) && Instant::now() < until => {
                tokio::time::sleep(COORDINATOR_BACKOFF).await;
            }
            Err(error) => {
                // The connection may be broken: the next request opens a new one.
                if !CoordinatorNotReady::is(&error) {
                    world.groups.forget_coordinator(&address);
                }
                return Err(error);
            }
            Ok(answer) => return Ok(answer),
        }
    }
}

/// The name a described member has in the scenario: its `client.id`, or the name of the
/// group's raw member for the raw client's `client.id`.
fn member_name<'a>(world: &'a KafkaWorld, group: &str, client_id: &'a str) -> &'a str {
    match world.groups.raw_member_of(group) {
        Some(raw) if client_id == RAW_MEMBER_CLIENT_ID => raw.name.as_str(),
        _ => client_id,
    }
}

/// The group as its coordinator describes it now.
pub async fn describe(world: &mut KafkaWorld, group: &str) -> anyhow::Result<GroupView> {
    let group_id = world.group_id(group);
    on_coordinator(world, group, async |groups, address| {
        describe_group(groups.coordinator(address).await?, &group_id).await
    })
    .await
}

/// Whether a description shows the group settled with `expected` members; the snapshot if
/// so, what is missing if not.
fn settled_snapshot(
    world: &KafkaWorld,
    group: &str,
    expected: usize,
    view: &GroupView,
) -> anyhow::Result<Result<Snapshot, String>> {
    if view.state != "Stable" {
        return Ok(Err(format!("state {}", view.state)));
    }
    let described: BTreeSet<&str> = view
        .members
        .iter()
        .map(|m| member_name(world, group, &m.client_id))
        .collect();
    let mut running: BTreeSet<&str> = world
        .groups
        .running_in(group)
        .map(|m| m.name.as_str())
        .collect();
    let raw = world.groups.raw_member_of(group);
    running.extend(raw.map(|r| r.name.as_str()));
    // A running consumer may be outside the group (one that stopped polling and left), but
    // every member must be a running consumer (a static member that ended is still listed
    // until its session times out).
    if view.members.len() != expected || !described.is_subset(&running) {
        return Ok(Err(format!(
            "{} members {described:?} (running consumers: {running:?}, expected {expected})",
            view.members.len()
        )));
    }
    let mut snapshot = Snapshot::default();
    for member in world.groups.running_in(group) {
        let Some(assigned) = view.member(&member.name).map(|m| &m.assignment) else {
            continue;
        };
        let state = member.state()?;
        if &state.assignment != assigned {
            return Ok(Err(format!(
                "{} owns {} while the coordinator assigned it {}",
                member.name,
                show_partitions(world, &state.assignment),
                show_partitions(world, assigned)
            )));
        }
        snapshot.members.insert(
            member.name.clone(),
            (state.assignment.clone(), state.rebalances.len()),
        );
    }
    if let Some(raw) = raw
        && let Some(described) = view.member(RAW_MEMBER_CLIENT_ID)
    {
        // Nothing to compare on the member's side: it does nothing with what it was given.
        snapshot
            .members
            .insert(raw.name.clone(), (described.assignment.clone(), 0));
    }
    let owned: Vec<&TopicPartition> = view.members.iter().flat_map(|m| &m.assignment).collect();
    let all = subscribed_partitions(world, group)?;
    let distinct: BTreeSet<&TopicPartition> = owned.iter().copied().collect();
    if owned.len() != distinct.len() || !distinct.iter().copied().eq(all.iter()) {
        return Ok(Err(format!(
            "{} of {} partitions owned ({} assignments)",
            distinct.len(),
            all.len(),
            owned.len()
        )));
    }
    Ok(Ok(snapshot))
}

/// Waits until the group has settled with `expected` members, keeps the snapshot and
/// records it.
pub async fn settle(
    world: &mut KafkaWorld,
    group: &str,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Deadline::after(
        timeout,
        format!("group {group} to settle with {expected} members"),
    );
    let mut same_in_a_row = 0;
    let mut previous: Option<Snapshot> = None;
    loop {
        let last_seen = match describe(world, group).await {
            Ok(view) => match settled_snapshot(world, group, expected, &view)? {
                Ok(snapshot) => {
                    if previous.as_ref() == Some(&snapshot) {
                        same_in_a_row += 1;
                    } else {
                        same_in_a_row = 1;
                    }
                    if same_in_a_row >= 2 {
                        let protocol = view.protocol.clone();
                        world
                            .groups
                            .settled
                            .entry(group.to_owned())
                            .or_default()
                            .push(snapshot);
                        note(
                            world,
                            group,
                            format!(
                                "settled: Stable, {}, assignor {protocol}",
                                count_of(expected, "member")
                            ),
                        );
                        return Ok(());
                    }
                    previous = Some(snapshot);
                    "settled once".to_owned()
                }
                Err(why) => {
                    same_in_a_row = 0;
                    previous = None;
                    why
                }
            },
            Err(error) => {
                same_in_a_row = 0;
                previous = None;
                format!("{error:#}")
            }
        };
        deadline.wait(last_seen).await?;
    }
}

#[given(expr = "the consumers of group {string} use:")]
async fn group_settings(world: &mut KafkaWorld, group: String, step: &Step) -> StepResult {
    let settings = table_pairs(step)?;
    world
        .groups
        .group_settings
        .entry(group)
        .or_default()
        .extend(settings);
    Ok(())
}

/// The group's members are Kafka's Java consumer (4.3.1, from Maven Central) with these
/// Java consumer settings; the scenario needs `@requires-java-client`.
#[given(expr = "the consumers of group {string} are Java consumers using:")]
async fn java_group_settings(world: &mut KafkaWorld, group: String, step: &Step) -> StepResult {
    world.groups.java_groups.insert(group.clone());
    group_settings(world, group, step).await
}

#[given(expr = "consumer {word} uses:")]
async fn consumer_settings(world: &mut KafkaWorld, name: String, step: &Step) -> StepResult {
    let settings = table_pairs(step)?;
    world
        .groups
        .consumer_settings
        .entry(name)
        .or_default()
        .extend(settings);
    Ok(())
}

#[given(
    expr = "the consumers of group {string} are static members, with group.instance.id set to their names"
)]
async fn static_members(world: &mut KafkaWorld, group: String) -> StepResult {
    world.groups.static_groups.insert(group);
    Ok(())
}

#[when(
    regex = r#"^consumers? ([A-Za-z][\w-]*(?:(?:, | and )[A-Za-z][\w-]*)*) joins? group "([^"]*)" subscribed to "([^"]*)"$"#
)]
async fn join(world: &mut KafkaWorld, list: String, group: String, topic: String) -> StepResult {
    for name in names(&list) {
        start_member(world, &name, &group, std::slice::from_ref(&topic)).await?;
    }
    Ok(())
}

#[then(regex = r#"^(?:within (\d+) seconds )?group "([^"]*)" settles with (\d+) members?$"#)]
async fn settles(
    world: &mut KafkaWorld,
    within: String,
    group: String,
    members: usize,
) -> StepResult {
    let timeout = if within.is_empty() {
        GROUP_SETTLE_TIMEOUT
    } else {
        Duration::from_secs(within.parse().map_err(|_| anyhow!("{within:?} seconds"))?)
    };
    settle(world, &group, members, timeout).await?;
    Ok(())
}

#[then(expr = "the assignment of group {string} is:")]
async fn assignment_is(world: &mut KafkaWorld, group: String, step: &Step) -> StepResult {
    let (logical, physical) = single_topic(world, &group)?;
    let snapshot = world.groups.last(&group)?.clone();
    let rows = table_rows(step)?;
    let listed: BTreeSet<String> = rows
        .iter()
        .map(|row| cell(row, "consumer").map(str::to_owned))
        .collect::<anyhow::Result<_>>()?;
    let members: BTreeSet<String> = snapshot.members.keys().cloned().collect();
    check!(
        listed == members,
        "the table lists {listed:?}; the group's members are {members:?}"
    );
    for row in &rows {
        let name = cell(row, "consumer")?;
        let expected = partition_numbers(cell(row, "partitions")?)?;
        let owned = &snapshot.members[name].0;
        let numbers: Vec<i32> = owned
            .iter()
            .filter(|(t, _)| *t == physical)
            .map(|(_, p)| *p)
            .collect();
        check!(
            numbers == expected && numbers.len() == owned.len(),
            "{name} owns {}, expected {logical}{expected:?}",
            show_partitions(world, owned)
        );
        let shown = show_partitions(world, owned);
        note(world, &group, format!("{name} owns {shown}"));
    }
    Ok(())
}

#[then(expr = "the members of group {string} own, in some order:")]
async fn assignment_in_some_order(
    world: &mut KafkaWorld,
    group: String,
    step: &Step,
) -> StepResult {
    let (logical, _) = single_topic(world, &group)?;
    let mut expected = table_rows(step)?
        .iter()
        .map(|row| partition_numbers(cell(row, "partitions")?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    expected.sort();
    let snapshot = world.groups.last(&group)?;
    let mut owned: Vec<Vec<i32>> = snapshot
        .members
        .values()
        .map(|(ps, _)| ps.iter().map(|(_, p)| *p).collect())
        .collect();
    owned.sort();
    check!(
        owned == expected,
        "the members own {owned:?}, expected {expected:?} in some order"
    );
    let shown: Vec<String> = owned
        .iter()
        .map(|ps| {
            if ps.is_empty() {
                return "nothing".to_owned();
            }
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{logical}[{}]", ps.join(","))
        })
        .collect();
    note(
        world,
        &group,
        format!("members own, in some order, {}", shown.join(", ")),
    );
    Ok(())
}

#[then(regex = r#"^the members of group "([^"]*)" own ((?:\d+, )*\d+ and \d+) partitions$"#)]
async fn partition_counts(world: &mut KafkaWorld, group: String, counts: String) -> StepResult {
    let mut expected = names(&counts)
        .iter()
        .map(|n| n.parse().map_err(|_| anyhow!("{n:?} is not a count")))
        .collect::<anyhow::Result<Vec<usize>>>()?;
    expected.sort_unstable();
    let snapshot = world.groups.last(&group)?;
    let mut owned: Vec<usize> = snapshot.members.values().map(|(ps, _)| ps.len()).collect();
    owned.sort_unstable();
    check!(
        owned == expected,
        "the members own {owned:?} partitions, expected {expected:?} in some order"
    );
    let shown: Vec<String> = owned.iter().rev().map(usize::to_string).collect();
    note(
        world,
        &group,
        format!("members own {} partitions", shown.join(", ")),
    );
    Ok(())
}

#[then(expr = "every partition of {string} is owned by exactly one member of group {string}")]
async fn owned_exactly_once(world: &mut KafkaWorld, logical: String, group: String) -> StepResult {
    let physical = world.physical(&logical);
    let count = world.partition_count(&logical)?;
    let snapshot = world.groups.last(&group)?;
    let mut owners: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
    for (name, (partitions, _)) in &snapshot.members {
        for (topic, partition) in partitions {
            if *topic == physical {
                owners.entry(*partition).or_default().push(name);
            }
        }
    }
    for partition in 0..count {
        let who = owners.get(&partition).cloned().unwrap_or_default();
        check!(
            who.len() == 1,
            "partition {partition} of {logical} is owned by {who:?}"
        );
    }
    note(
        world,
        &group,
        format!("each of the {count} partitions of {logical} has exactly one owner"),
    );
    Ok(())
}

#[when(expr = "{word} leaves the group")]
async fn leaves(world: &mut KafkaWorld, name: String) -> StepResult {
    let member = world.groups.member(&name)?;
    check!(
        !member.is_static,
        "{name} is a static member: librdkafka sends no LeaveGroup when a static member closes"
    );
    let group = member.group.clone();
    close_member(world, &name).await?;
    note(world, &group, format!("{name} left the group (LeaveGroup)"));
    Ok(())
}

#[when(expr = "{word} ends without leaving the group")]
async fn ends_without_leaving(world: &mut KafkaWorld, name: String) -> StepResult {
    let member = world.groups.member(&name)?;
    check!(
        member.is_static,
        "{name} is a dynamic member: librdkafka always sends LeaveGroup when one closes, so \
         it cannot end silently; make the group's members static"
    );
    let group = member.group.clone();
    close_member(world, &name).await?;
    note(world, &group, format!("{name} ended without a LeaveGroup"));
    Ok(())
}

#[when(
    expr = "{word} joins group {string} subscribed to {string} over the raw protocol with a {int} ms session timeout, and then sends nothing more"
)]
async fn raw_member_joins_and_goes_silent(
    world: &mut KafkaWorld,
    name: String,
    group: String,
    topic: String,
    session_timeout_ms: i32,
) -> StepResult {
    check!(
        world.groups.raw_member_of(&group).is_none() && !world.groups.members.contains_key(&name),
        "group {group} already has a raw member, or {name} is taken"
    );
    let spec = MemberSpec {
        name: name.clone(),
        group: group.clone(),
        group_id: world.group_id(&group),
        topics: vec![(topic.clone(), world.physical(&topic))],
        settings: Vec::new(),
        is_static: false,
        java: false,
    };
    let member = on_coordinator(world, &group, async |_, address| {
        raw_member_joins(address, &spec, session_timeout_ms).await
    })
    .await?;
    let assigned = count_of(member.assignment.len(), "partition");
    world.groups.raw_members.insert(name.clone(), member);
    note(
        world,
        &group,
        format!("{name} joined over the raw protocol, was assigned {assigned}, and went silent"),
    );
    Ok(())
}

#[then(regex = r"^a heartbeat from (\S+) now answers ([A-Z_]+) \((-?\d+)\)$")]
async fn raw_heartbeat_answers(
    world: &mut KafkaWorld,
    name: String,
    error: String,
    code: i32,
) -> StepResult {
    let member = world
        .groups
        .raw_members
        .get_mut(&name)
        .ok_or_else(|| anyhow!("{name} is not a raw member"))?;
    let answer = member.heartbeat().await?;
    let group = member.group.clone();
    check!(
        answer.is(&error, code),
        "{name}'s heartbeat answered {answer}, expected {error} ({code})"
    );
    note(
        world,
        &group,
        format!("a heartbeat from {name} answered {answer}"),
    );
    Ok(())
}

#[then(expr = "the coordinator still lists {word} as a member of group {string}")]
async fn still_listed(world: &mut KafkaWorld, name: String, group: String) -> StepResult {
    let view = describe(world, &group).await?;
    let clients: Vec<&str> = view
        .members
        .iter()
        .map(|m| member_name(world, &group, &m.client_id))
        .collect();
    check!(
        clients.contains(&name.as_str()),
        "the coordinator lists {clients:?} (state {}), not {name}",
        view.state
    );
    note(world, &group, format!("the coordinator still lists {name}"));
    Ok(())
}

#[when(expr = "a member of group {string} that owns a partition leaves the group")]
async fn busy_member_leaves(world: &mut KafkaWorld, group: String) -> StepResult {
    let snapshot = world.groups.last(&group)?.clone();
    let idle: Vec<String> = snapshot
        .members
        .iter()
        .filter(|(_, (ps, _))| ps.is_empty())
        .map(|(name, _)| name.clone())
        .collect();
    let (leaver, (owned, _)) = snapshot
        .members
        .iter()
        .find(|(_, (ps, _))| !ps.is_empty())
        .ok_or_else(|| anyhow!("no member of group {group} owns a partition"))?;
    check!(
        !world.groups.member(leaver)?.is_static,
        "{leaver} is static: it would not send LeaveGroup"
    );
    close_member(world, leaver).await?;
    world
        .groups
        .roles
        .insert((group.clone(), "idle".to_owned()), idle.clone());
    note(
        world,
        &group,
        format!(
            "a member owning {} left the group (LeaveGroup); {} idle",
            count_of(owned.len(), "partition"),
            match idle.len() {
                1 => "1 member was".to_owned(),
                n => format!("{n} members were"),
            }
        ),
    );
    Ok(())
}

#[then(expr = "the member of group {string} that was idle now owns {int} partition(s)")]
async fn idle_member_took_over(world: &mut KafkaWorld, group: String, count: usize) -> StepResult {
    let idle = world
        .groups
        .roles
        .get(&(group.clone(), "idle".to_owned()))
        .cloned()
        .unwrap_or_default();
    let [name] = idle.as_slice() else {
        return Err(anyhow!(
            "expected one idle member of group {group} before, there were {idle:?}"
        )
        .into());
    };
    let snapshot = world.groups.last(&group)?;
    let owned = snapshot
        .members
        .get(name)
        .map(|(ps, _)| ps.clone())
        .ok_or_else(|| anyhow!("{name} is no longer a member of group {group}"))?;
    check!(
        owned.len() == count,
        "the member that was idle owns {}",
        show_partitions(world, &owned)
    );
    note(
        world,
        &group,
        format!(
            "the member that was idle now owns {}",
            count_of(count, "partition")
        ),
    );
    Ok(())
}

#[when(expr = "{word} stops polling")]
async fn stops_polling(world: &mut KafkaWorld, name: String) -> StepResult {
    let member = world.groups.member(&name)?;
    member.set_polling(false)?;
    let group = member.group.clone();
    note(world, &group, format!("{name} stopped polling"));
    Ok(())
}

/// Waits until a member has reported an error by name and code.
pub async fn wait_for_error(
    world: &mut KafkaWorld,
    name: &str,
    error: &str,
    code: i32,
) -> anyhow::Result<()> {
    let deadline = Deadline::after(RECEIVE_TIMEOUT, format!("{name} to report {error}"));
    loop {
        let member = world.groups.member(name)?;
        let errors = member.state()?.errors.clone();
        if errors.iter().any(|e| e.is(error, code)) {
            let group = member.group.clone();
            note(world, &group, format!("{name} reported {error} ({code})"));
            return Ok(());
        }
        let seen: Vec<String> = errors.iter().map(ToString::to_string).collect();
        deadline.wait(format!("errors {seen:?}")).await?;
    }
}

#[then(regex = r"^(\S+) reports (_?[A-Z_]+) \((-?\d+)\) when it polls again$")]
async fn reports_when_polling_again(
    world: &mut KafkaWorld,
    name: String,
    error: String,
    code: i32,
) -> StepResult {
    world.groups.member(&name)?.set_polling(true)?;
    wait_for_error(world, &name, &error, code).await?;
    Ok(())
}

/// Partitions a member revoked in the rebalance callbacks between the last two settles.
fn revoked_between(
    world: &KafkaWorld,
    name: &str,
    from: usize,
    to: usize,
) -> anyhow::Result<BTreeSet<TopicPartition>> {
    if world.groups.raw_members.contains_key(name) {
        // A raw member has no rebalance callbacks.
        return Ok(BTreeSet::new());
    }
    let state = world.groups.member(name)?.state()?;
    let events = state
        .rebalances
        .get(from..to)
        .ok_or_else(|| anyhow!("{name} has no rebalance callbacks {from}..{to}"))?;
    Ok(events
        .iter()
        .filter_map(|e| match e {
            RebalanceEvent::Revoke(ps) => Some(ps.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect())
}

/// For each member after the last rebalance: what it owned before, owns now, and revoked.
type Changes = BTreeMap<
    String,
    (
        BTreeSet<TopicPartition>,
        BTreeSet<TopicPartition>,
        BTreeSet<TopicPartition>,
    ),
>;

fn changes(world: &KafkaWorld, group: &str) -> anyhow::Result<Changes> {
    let (before, after) = world.groups.last_two(group)?;
    let mut out = BTreeMap::new();
    for (name, (now, to)) in &after.members {
        let (then, from) = before
            .members
            .get(name)
            .cloned()
            .unwrap_or((BTreeSet::new(), 0));
        let revoked = revoked_between(world, name, from, *to)?;
        out.insert(name.clone(), (then, now.clone(), revoked));
    }
    Ok(out)
}

#[then(expr = "no member of group {string} had a partition revoked that it kept")]
async fn kept_never_revoked(world: &mut KafkaWorld, group: String) -> StepResult {
    for (name, (then, now, revoked)) in changes(world, &group)? {
        let kept: BTreeSet<_> = then.intersection(&now).cloned().collect();
        let wrongly: BTreeSet<_> = kept.intersection(&revoked).cloned().collect();
        check!(
            wrongly.is_empty(),
            "{name} kept {} but had {} revoked on the way",
            show_partitions(world, &kept),
            show_partitions(world, &wrongly)
        );
        let moved: BTreeSet<_> = then.difference(&now).cloned().collect();
        check!(
            revoked == moved,
            "{name} had {} revoked; it gave up {}",
            show_partitions(world, &revoked),
            show_partitions(world, &moved)
        );
    }
    note(
        world,
        &group,
        "no member had a partition revoked that it kept; only partitions that moved were revoked",
    );
    Ok(())
}

#[then(
    expr = "every member of group {string} that owned partitions had all of them revoked in the rebalance"
)]
async fn all_revoked(world: &mut KafkaWorld, group: String) -> StepResult {
    let mut members = 0;
    for (name, (then, _, revoked)) in changes(world, &group)? {
        if then.is_empty() {
            continue;
        }
        check!(
            then.is_subset(&revoked),
            "{name} owned {} and had only {} revoked",
            show_partitions(world, &then),
            show_partitions(world, &revoked)
        );
        members += 1;
    }
    check!(
        members > 0,
        "no member of group {group} owned partitions before"
    );
    note(
        world,
        &group,
        format!("all {members} members that owned partitions had all of them revoked"),
    );
    Ok(())
}

#[then(regex = r#"^(\d+) partitions? of "([^"]*)" changed owner in group "([^"]*)"$"#)]
async fn changed_owner(
    world: &mut KafkaWorld,
    count: usize,
    logical: String,
    group: String,
) -> StepResult {
    let physical = world.physical(&logical);
    let (before, after) = world.groups.last_two(&group)?;
    let owner = |snapshot: &Snapshot| -> BTreeMap<i32, String> {
        snapshot
            .members
            .iter()
            .flat_map(|(name, (ps, _))| {
                ps.iter()
                    .filter(|(t, _)| *t == physical)
                    .map(move |(_, p)| (*p, name.clone()))
            })
            .collect()
    };
    let (then, now) = (owner(before), owner(after));
    let moved: Vec<i32> = now
        .iter()
        .filter(|(p, name)| then.get(p) != Some(name))
        .map(|(p, _)| *p)
        .collect();
    check!(
        moved.len() == count,
        "{} partitions changed owner ({moved:?}): before {then:?}, after {now:?}",
        moved.len()
    );
    note(
        world,
        &group,
        format!(
            "{} of {logical} changed owner",
            count_of(count, "partition")
        ),
    );
    Ok(())
}

#[when(
    regex = r#"^the messages "([^"]*)" to "([^"]*)" are sent to "([^"]*)", one partition after another$"#
)]
async fn send_round_robin(
    world: &mut KafkaWorld,
    first: String,
    last: String,
    logical: String,
) -> StepResult {
    let values = numbered_range(&first, &last)?;
    let count = world.partition_count(&logical)?;
    let messages = values
        .iter()
        .enumerate()
        .map(|(i, value)| Outgoing {
            partition: Some(i as i32 % count),
            ..Outgoing::value(value.as_str())
        })
        .collect();
    send_all(world, &logical, messages).await?;
    Ok(())
}

/// The values of `topic` that each running member of `group` (or just `only`) received.
fn received_values(
    world: &KafkaWorld,
    group: &str,
    physical: &str,
    only: Option<&str>,
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for member in world.groups.running_in(group) {
        if only.is_some_and(|name| name != member.name) {
            continue;
        }
        let values = member
            .state()?
            .records
            .iter()
            .filter(|r| r.topic == physical)
            .map(|r| r.value.clone())
            .collect();
        out.insert(member.name.clone(), values);
    }
    Ok(out)
}

#[then(
    expr = "the members of group {string} together receive {string} to {string}, each message once"
)]
async fn together_each_once(
    world: &mut KafkaWorld,
    group: String,
    first: String,
    last: String,
) -> StepResult {
    let expected: BTreeSet<String> = numbered_range(&first, &last)?.into_iter().collect();
    let (logical, physical) = single_topic(world, &group)?;
    let deadline = Deadline::after(
        RECEIVE_TIMEOUT,
        format!("group {group} to receive {first} to {last}"),
    );
    let by_member = loop {
        let by_member = received_values(world, &group, &physical, None)?;
        let got: BTreeSet<&String> = by_member.values().flatten().collect();
        if expected.iter().all(|v| got.contains(v)) {
            break by_member;
        }
        deadline
            .wait(format!("{} of {} values", got.len(), expected.len()))
            .await?;
    };
    let mut times: BTreeMap<&String, usize> = BTreeMap::new();
    for value in by_member.values().flatten() {
        *times.entry(value).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    check!(
        twice.is_empty(),
        "received more than once within group {group}: {twice:?}"
    );
    let unexpected: Vec<_> = times.keys().filter(|v| !expected.contains(**v)).collect();
    check!(unexpected.is_empty(), "unexpected values {unexpected:?}");
    let sharing = by_member.values().filter(|v| !v.is_empty()).count();
    note(
        world,
        &group,
        format!(
            "its members together received {first} to {last} from {logical}, each once, {sharing} members sharing them"
        ),
    );
    Ok(())
}

#[then(expr = "{word} receives every one of {string} to {string}")]
async fn member_receives_all(
    world: &mut KafkaWorld,
    name: String,
    first: String,
    last: String,
) -> StepResult {
    let expected: BTreeSet<String> = numbered_range(&first, &last)?.into_iter().collect();
    let group = world.groups.member(&name)?.group.clone();
    let (logical, physical) = single_topic(world, &group)?;
    let deadline = Deadline::after(
        RECEIVE_TIMEOUT,
        format!("{name} to receive {first} to {last}"),
    );
    loop {
        let values = received_values(world, &group, &physical, Some(&name))?
            .remove(&name)
            .unwrap_or_default();
        let got: BTreeSet<String> = values.iter().cloned().collect();
        if got == expected && values.len() == expected.len() {
            break;
        }
        check!(
            got.is_subset(&expected) && values.len() <= expected.len(),
            "{name} received {values:?}"
        );
        deadline
            .wait(format!("{} of {} values", got.len(), expected.len()))
            .await?;
    }
    note(
        world,
        &group,
        format!("{name} received every one of {first} to {last} from {logical}"),
    );
    Ok(())
}
