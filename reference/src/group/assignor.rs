//! The server-side assignors of consumer groups (KIP-848): `uniform` (the default) and
//! `range`, as Kafka 4.3 ships them (`group.consumer.assignors`).
//!
//! An assignor maps every member to the partitions it should own (the *target assignment*);
//! the members then move towards it through reconciliation (see `consumer_group`), never
//! owning a partition another member has not yet released.
//!
//! - `uniform`: every subscribed partition goes to one member subscribed to its topic, as
//!   evenly as possible, and a member keeps what it had in the previous target where that
//!   stays balanced (sticky). When every member has the same subscription (Kafka's
//!   homogeneous case) each member gets `P / M` or `P / M + 1` partitions, and a member
//!   already holding more than its quota keeps the lowest partitions of its old target
//!   (Kafka keeps an unspecified subset). With different subscriptions (heterogeneous) a
//!   partition goes to its previous owner if still subscribed, else to the least loaded
//!   subscriber, then one balancing pass moves partitions from a member that has at least
//!   two more than another subscriber of the topic. Kafka's heterogeneous builder balances
//!   more thoroughly; the outcome can differ there.
//! - `range`: per topic, the subscribed members get contiguous ranges, the first `P % M` one
//!   partition more, in Kafka's `RangeAssignor.sortMemberIds` order: static members first,
//!   by instance id (so a restarted static member, with a new member id, gets its range
//!   back), then the others by member id. Like Kafka's, it recomputes the ranges each time
//!   (no stickiness beyond that order).
//!
//! Deterministic: members iterate in id order (instance id first, for `range`), topics in
//! name order.
//!
//! # References
//! - `org.apache.kafka.coordinator.group.assignor.UniformAssignor`,
//!   `UniformHomogeneousAssignmentBuilder`, `UniformHeterogeneousAssignmentBuilder`,
//!   `RangeAssignor`
//! - KIP-848 ("Assignors")

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions by topic id.
pub(super) type Partitions = BTreeMap<Uuid, BTreeSet<i32>>;

/// The assignors this broker offers, the default first (`group.consumer.assignors`).
pub(super) const ASSIGNORS: &[&str] = &["uniform", "range"];

/// One member as the assignor sees it: the topic ids it subscribes to (existing topics only),
/// its previous target, and its instance id if it is a static member.
pub(super) struct AssignorMember<'a> {
    pub(super) subscribed: BTreeSet<Uuid>,
    pub(super) previous: Option<&'a Partitions>,
    pub(super) instance_id: Option<&'a str>,
}

/// The topics of the group's subscriptions: id to (name, partition count).
pub(super) type AssignorTopics = BTreeMap<Uuid, (String, i32)>;

/// Computes the target assignment with assignor `name` (one of [`ASSIGNORS`]).
pub(super) fn assign(
    name: &str,
    members: &BTreeMap<String, AssignorMember<'_>>,
    topics: &AssignorTopics,
) -> BTreeMap<String, Partitions> {
    let mut out: BTreeMap<String, Partitions> = members
        .keys()
        .map(|m| (m.clone(), Partitions::new()))
        .collect();
    match name {
        "range" => range(members, topics, &mut out),
        _ => uniform(members, topics, &mut out),
    }
    out
}

/// Topic ids ordered by topic name, so the outcome does not depend on random ids.
fn by_name(topics: &AssignorTopics) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = topics.keys().copied().collect();
    ids.sort_by(|a, b| topics[a].0.cmp(&topics[b].0).then(a.cmp(b)));
    ids
}

fn range(
    members: &BTreeMap<String, AssignorMember<'_>>,
    topics: &AssignorTopics,
    out: &mut BTreeMap<String, Partitions>,
) {
    // Kafka's `sortMemberIds`: static members first, by instance id, then by member id.
    let mut ordered: Vec<(&String, &AssignorMember<'_>)> = members.iter().collect();
    ordered.sort_by_key(|(id, m)| (m.instance_id.is_none(), m.instance_id, *id));
    for topic_id in by_name(topics) {
        let count = topics[&topic_id].1.max(0);
        let subscribers: Vec<&String> = ordered
            .iter()
            .filter(|(_, m)| m.subscribed.contains(&topic_id))
            .map(|(id, _)| *id)
            .collect();
        if subscribers.is_empty() {
            continue;
        }
        let n = subscribers.len() as i32;
        let (quota, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, member) in subscribers.into_iter().enumerate() {
            let take = quota + i32::from((i as i32) < extra);
            if take > 0 {
                let set = out.entry(member.clone()).or_default();
                set.entry(topic_id).or_default().extend(next..next + take);
            }
            next += take;
        }
    }
}

fn uniform(
    members: &BTreeMap<String, AssignorMember<'_>>,
    topics: &AssignorTopics,
    out: &mut BTreeMap<String, Partitions>,
) {
    let subscribed: Vec<&BTreeSet<Uuid>> = members.values().map(|m| &m.subscribed).collect();
    let homogeneous = subscribed.windows(2).all(|w| w[0] == w[1]);
    if homogeneous {
        uniform_homogeneous(members, topics, out);
    } else {
        uniform_heterogeneous(members, topics, out);
    }
}

/// Every (topic, partition) of `topic_ids`, in topic-name then partition order.
fn all_partitions(topic_ids: &[Uuid], topics: &AssignorTopics) -> Vec<(Uuid, i32)> {
    topic_ids
        .iter()
        .flat_map(|id| (0..topics[id].1.max(0)).map(move |p| (*id, p)))
        .collect()
}

fn previous_of(member: &AssignorMember<'_>, topic_id: Uuid, partition: i32) -> bool {
    member
        .previous
        .and_then(|p| p.get(&topic_id))
        .is_some_and(|s| s.contains(&partition))
}

fn uniform_homogeneous(
    members: &BTreeMap<String, AssignorMember<'_>>,
    topics: &AssignorTopics,
    out: &mut BTreeMap<String, Partitions>,
) {
    let Some(first) = members.values().next() else {
        return;
    };
    let topic_ids: Vec<Uuid> = by_name(topics)
        .into_iter()
        .filter(|t| first.subscribed.contains(t))
        .collect();
    let partitions = all_partitions(&topic_ids, topics);
    let m = members.len();
    let (min_quota, mut extra) = (partitions.len() / m, partitions.len() % m);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    // Stickiness: each member keeps its previous partitions up to its quota.
    for (id, member) in members {
        let kept: Vec<(Uuid, i32)> = partitions
            .iter()
            .copied()
            .filter(|(t, p)| previous_of(member, *t, *p))
            .collect();
        let mut quota = min_quota;
        if kept.len() > min_quota && extra > 0 {
            quota += 1;
            extra -= 1;
        }
        for (t, p) in kept.into_iter().take(quota) {
            out.entry(id.clone())
                .or_default()
                .entry(t)
                .or_default()
                .insert(p);
            taken.insert((t, p));
        }
        counts.insert(id, out[id].values().map(BTreeSet::len).sum());
    }
    // The rest: members below the minimum quota first, then one extra each while any remain.
    for (t, p) in partitions.into_iter().filter(|tp| !taken.contains(tp)) {
        let below_min = counts
            .iter()
            .find(|(_, c)| **c < min_quota)
            .map(|(id, _)| *id);
        let target = match below_min {
            Some(id) => Some(id),
            None if extra > 0 => {
                extra -= 1;
                counts
                    .iter()
                    .find(|(_, c)| **c == min_quota)
                    .map(|(id, _)| *id)
            }
            None => None,
        };
        let Some(id) = target else {
            continue;
        };
        out.entry(id.to_string())
            .or_default()
            .entry(t)
            .or_default()
            .insert(p);
        if let Some(c) = counts.get_mut(id) {
            *c += 1;
        }
    }
}

fn uniform_heterogeneous(
    members: &BTreeMap<String, AssignorMember<'_>>,
    topics: &AssignorTopics,
    out: &mut BTreeMap<String, Partitions>,
) {
    let topic_ids = by_name(topics);
    let mut owner: BTreeMap<(Uuid, i32), &str> = BTreeMap::new();
    let mut counts: BTreeMap<&str, usize> = members.keys().map(|m| (m.as_str(), 0)).collect();
    let partitions = all_partitions(&topic_ids, topics);
    for &(t, p) in &partitions {
        let subscribers = || {
            members
                .iter()
                .filter(move |(_, m)| m.subscribed.contains(&t))
        };
        let sticky = subscribers()
            .find(|(_, m)| previous_of(m, t, p))
            .map(|(id, _)| id.as_str());
        let least = || {
            subscribers()
                .map(|(id, _)| id.as_str())
                .min_by_key(|id| (counts[id], *id))
        };
        if let Some(id) = sticky.or_else(least) {
            owner.insert((t, p), id);
            *counts.entry(id).or_default() += 1;
        }
    }
    // One balancing pass, highest partitions first.
    for &(t, p) in partitions.iter().rev() {
        let Some(current) = owner.get(&(t, p)).copied() else {
            continue;
        };
        let least = members
            .iter()
            .filter(|(_, m)| m.subscribed.contains(&t))
            .map(|(id, _)| id.as_str())
            .min_by_key(|id| (counts[id], *id));
        if let Some(to) = least
            && counts[current] > counts[to] + 1
        {
            *counts.entry(current).or_default() -= 1;
            *counts.entry(to).or_default() += 1;
            owner.insert((t, p), to);
        }
    }
    for ((t, p), id) in owner {
        out.entry(id.to_string())
            .or_default()
            .entry(t)
            .or_default()
            .insert(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn members<'a>(ids: &[&str], subscribed: &[Uuid]) -> BTreeMap<String, AssignorMember<'a>> {
        ids.iter()
            .map(|id| {
                let m = AssignorMember {
                    subscribed: subscribed.iter().copied().collect(),
                    previous: None,
                    instance_id: None,
                };
                (id.to_string(), m)
            })
            .collect()
    }

    fn count(p: &Partitions) -> usize {
        p.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn uniform_splits_evenly_and_keeps_what_it_can() {
        let topics = AssignorTopics::from([(topic(1), ("orders".to_string(), 4))]);
        let one = assign("uniform", &members(&["a"], &[topic(1)]), &topics);
        assert_eq!(count(&one["a"]), 4);
        let mut two = members(&["a", "b"], &[topic(1)]);
        two.get_mut("a").unwrap().previous = Some(&one["a"]);
        let next = assign("uniform", &two, &topics);
        assert_eq!(count(&next["a"]), 2);
        assert_eq!(count(&next["b"]), 2);
        // a keeps two of its own; b gets the other two.
        assert!(next["a"][&topic(1)].is_subset(&one["a"][&topic(1)]));
        assert!(next["a"][&topic(1)].is_disjoint(&next["b"][&topic(1)]));
    }

    #[test]
    fn range_gives_contiguous_ranges_in_member_order() {
        let topics = AssignorTopics::from([(topic(1), ("t".to_string(), 5))]);
        let out = assign("range", &members(&["b", "a"], &[topic(1)]), &topics);
        assert_eq!(out["a"][&topic(1)], BTreeSet::from([0, 1, 2]));
        assert_eq!(out["b"][&topic(1)], BTreeSet::from([3, 4]));
    }

    /// As Kafka's `sortMemberIds`: static members by instance id, before dynamic ones, whatever
    /// their member ids (random UUIDs), so a static member's range does not depend on them.
    #[test]
    fn range_puts_static_members_first_in_instance_id_order() {
        let topics = AssignorTopics::from([(topic(1), ("t".to_string(), 7))]);
        let mut ms = members(&["z", "m", "a"], &[topic(1)]);
        ms.get_mut("z").unwrap().instance_id = Some("i1");
        ms.get_mut("m").unwrap().instance_id = Some("i2");
        let out = assign("range", &ms, &topics);
        assert_eq!(out["z"][&topic(1)], BTreeSet::from([0, 1, 2]));
        assert_eq!(out["m"][&topic(1)], BTreeSet::from([3, 4]));
        assert_eq!(out["a"][&topic(1)], BTreeSet::from([5, 6]));
    }

    #[test]
    fn heterogeneous_uniform_gives_each_topic_to_its_subscribers_only() {
        let topics = AssignorTopics::from([
            (topic(1), ("a".to_string(), 3)),
            (topic(2), ("b".to_string(), 3)),
        ]);
        let mut ms = members(&["x", "y"], &[topic(1)]);
        ms.get_mut("y").unwrap().subscribed.insert(topic(2));
        let out = assign("uniform", &ms, &topics);
        assert!(!out["x"].contains_key(&topic(2)));
        assert_eq!(out["y"][&topic(2)].len(), 3);
        let total: usize = out.values().map(count).sum();
        assert_eq!(total, 6);
    }
}
