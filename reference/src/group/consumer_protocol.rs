//! The consumer's embedded protocol, as far as a coordinator reads it.
//!
//! A classic group treats member metadata as opaque bytes, except for one question Kafka's
//! coordinator also asks: is the group subscribed to a topic (OffsetDelete answers
//! GROUP_SUBSCRIBED_TO_TOPIC, and retention keeps offsets of subscribed topics); for that it
//! reads only the version-0 prefix of `ConsumerProtocolSubscription` (a version, then the
//! topic names), which every later version starts with. A consumer group with classic
//! members (KIP-848's online migration) reads the whole subscription (owned partitions, rack)
//! and writes each classic member's `ConsumerProtocolAssignment` itself.
//!
//! Every length and count here is checked against the bytes left before anything is kept,
//! and nothing is allocated ahead by a count: the bytes come from a client.
//!
//! # References
//! - `org.apache.kafka.clients.consumer.internals.ConsumerProtocol`
//! - `ConsumerProtocolSubscription.json` (versions 0-3), `ConsumerProtocolAssignment.json`

use std::collections::BTreeSet;

/// The protocol type of Kafka consumers.
pub(super) const PROTOCOL_TYPE: &str = "consumer";

/// The topics of a `ConsumerProtocolSubscription`, or `None` if it does not parse.
pub(super) fn subscribed_topics(metadata: &[u8]) -> Option<BTreeSet<String>> {
    let mut rest = metadata;
    let version = i16::from_be_bytes(take::<2>(&mut rest)?);
    if version < 0 {
        return None;
    }
    let count = i32::from_be_bytes(take::<4>(&mut rest)?);
    if count < 0 {
        return None;
    }
    let mut topics = BTreeSet::new();
    for _ in 0..count {
        let len = i16::from_be_bytes(take::<2>(&mut rest)?);
        let len = usize::try_from(len).ok()?;
        if rest.len() < len {
            return None;
        }
        let (name, tail) = rest.split_at(len);
        topics.insert(std::str::from_utf8(name).ok()?.to_string());
        rest = tail;
    }
    Some(topics)
}

/// The highest subscription and assignment versions Kafka 4.3 writes; a higher version is
/// read as this one (its fields come first), as Kafka's `ConsumerProtocol` does.
const HIGHEST_VERSION: i16 = 3;

/// A `ConsumerProtocolSubscription` (topic partitions by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Subscription {
    pub(super) topics: Vec<String>,
    pub(super) owned_partitions: Vec<(String, Vec<i32>)>,
    pub(super) rack_id: Option<String>,
}

/// The whole subscription, or `None` if it does not parse (Kafka's SchemaException).
pub(super) fn subscription_of(metadata: &[u8]) -> Option<Subscription> {
    let mut rest = metadata;
    let version = i16::from_be_bytes(take::<2>(&mut rest)?);
    if version < 0 {
        return None;
    }
    let version = version.min(HIGHEST_VERSION);
    let topics = strings(&mut rest)?;
    skip_nullable_bytes(&mut rest)?; // user data
    let mut subscription = Subscription {
        topics,
        ..Subscription::default()
    };
    if version >= 1 {
        subscription.owned_partitions = topic_partitions(&mut rest)?;
    }
    if version >= 2 {
        let _generation_id = take::<4>(&mut rest)?;
    }
    if version >= 3 {
        subscription.rack_id = nullable_string(&mut rest)?;
    }
    Some(subscription)
}

/// The version a member's metadata was written with: its assignments are written with the
/// same one (Kafka's `ConsumerProtocol.deserializeVersion`), capped at [`HIGHEST_VERSION`].
pub(super) fn version_of(metadata: &[u8]) -> Option<i16> {
    let mut rest = metadata;
    let version = i16::from_be_bytes(take::<2>(&mut rest)?);
    (version >= 0).then_some(version.min(HIGHEST_VERSION))
}

/// The partitions of a `ConsumerProtocolAssignment`, by topic name. An empty assignment
/// (a member that has not synced yet) assigns nothing.
pub(super) fn assignment_of(assignment: &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    if assignment.is_empty() {
        return Some(Vec::new());
    }
    let mut rest = assignment;
    let version = i16::from_be_bytes(take::<2>(&mut rest)?);
    if version < 0 {
        return None;
    }
    let partitions = topic_partitions(&mut rest)?;
    skip_nullable_bytes(&mut rest)?; // user data
    Some(partitions)
}

/// Writes a `ConsumerProtocolAssignment` of `version` (no user data).
pub(super) fn encode_assignment(version: i16, partitions: &[(String, Vec<i32>)]) -> bytes::Bytes {
    let mut out = Vec::new();
    out.extend_from_slice(&version.clamp(0, HIGHEST_VERSION).to_be_bytes());
    put_len(&mut out, partitions.len());
    for (topic, ps) in partitions {
        put_string(&mut out, topic);
        put_len(&mut out, ps.len());
        for p in ps {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
    out.extend_from_slice(&(-1i32).to_be_bytes());
    bytes::Bytes::from(out)
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    let len = i32::try_from(len).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..usize::try_from(len).unwrap_or(0)]);
}

/// An array count, refused when negative or when the bytes left could not hold that many
/// elements of at least `min_element` bytes each.
fn count(rest: &mut &[u8], min_element: usize) -> Option<usize> {
    let n = usize::try_from(i32::from_be_bytes(take::<4>(rest)?)).ok()?;
    (n.checked_mul(min_element)? <= rest.len()).then_some(n)
}

fn string(rest: &mut &[u8]) -> Option<String> {
    let len = usize::try_from(i16::from_be_bytes(take::<2>(rest)?)).ok()?;
    if rest.len() < len {
        return None;
    }
    let (s, tail) = rest.split_at(len);
    *rest = tail;
    std::str::from_utf8(s).ok().map(str::to_string)
}

fn nullable_string(rest: &mut &[u8]) -> Option<Option<String>> {
    let len = i16::from_be_bytes(take::<2>(rest)?);
    if len == -1 {
        return Some(None);
    }
    let len = usize::try_from(len).ok()?;
    if rest.len() < len {
        return None;
    }
    let (s, tail) = rest.split_at(len);
    *rest = tail;
    std::str::from_utf8(s).ok().map(|s| Some(s.to_string()))
}

fn skip_nullable_bytes(rest: &mut &[u8]) -> Option<()> {
    let len = i32::from_be_bytes(take::<4>(rest)?);
    if len == -1 {
        return Some(());
    }
    let len = usize::try_from(len).ok()?;
    if rest.len() < len {
        return None;
    }
    *rest = &rest[len..];
    Some(())
}

fn strings(rest: &mut &[u8]) -> Option<Vec<String>> {
    let n = count(rest, 2)?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(string(rest)?);
    }
    Some(out)
}

fn topic_partitions(rest: &mut &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    let n = count(rest, 6)?;
    let mut out = Vec::new();
    for _ in 0..n {
        let topic = string(rest)?;
        let m = count(rest, 4)?;
        let mut partitions = Vec::new();
        for _ in 0..m {
            partitions.push(i32::from_be_bytes(take::<4>(rest)?));
        }
        out.push((topic, partitions));
    }
    Some(out)
}

fn take<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
    if rest.len() < N {
        return None;
    }
    let (head, tail) = rest.split_at(N);
    *rest = tail;
    head.try_into().ok()
}

/// Encodes a version-0 subscription (tests and examples build member metadata with it).
#[cfg(test)]
pub(super) fn subscription(topics: &[&str]) -> bytes::Bytes {
    let mut out = Vec::new();
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        out.extend_from_slice(&(t.len() as i16).to_be_bytes());
        out.extend_from_slice(t.as_bytes());
    }
    out.extend_from_slice(&(-1i32).to_be_bytes());
    bytes::Bytes::from(out)
}

/// Encodes a version-1 subscription with owned partitions (tests of classic members).
#[cfg(test)]
pub(super) fn subscription_owning(topics: &[&str], owned: &[(&str, &[i32])]) -> bytes::Bytes {
    let mut out = Vec::new();
    out.extend_from_slice(&1i16.to_be_bytes());
    put_len(&mut out, topics.len());
    for t in topics {
        put_string(&mut out, t);
    }
    out.extend_from_slice(&(-1i32).to_be_bytes());
    put_len(&mut out, owned.len());
    for (t, ps) in owned {
        put_string(&mut out, t);
        put_len(&mut out, ps.len());
        for p in *ps {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
    bytes::Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_with_owned_partitions_and_rack_parses() {
        let mut v3 = subscription_owning(&["a", "b"], &[("a", &[0, 2])]).to_vec();
        v3[1] = 3;
        v3.extend_from_slice(&7i32.to_be_bytes());
        v3.extend_from_slice(&2i16.to_be_bytes());
        v3.extend_from_slice(b"r1");
        let s = subscription_of(&v3).expect("parses");
        assert_eq!(s.topics, vec!["a", "b"]);
        assert_eq!(s.owned_partitions, vec![("a".to_string(), vec![0, 2])]);
        assert_eq!(s.rack_id.as_deref(), Some("r1"));
        assert_eq!(version_of(&v3), Some(3));
        // Version 0 has no owned partitions.
        let v0 = subscription(&["a"]);
        assert_eq!(
            subscription_of(&v0).map(|s| s.owned_partitions),
            Some(vec![])
        );
    }

    #[test]
    fn counts_larger_than_the_bytes_are_refused_before_any_allocation() {
        let mut huge = 0i16.to_be_bytes().to_vec();
        huge.extend_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(subscription_of(&huge), None);
        let mut huge = 0i16.to_be_bytes().to_vec();
        huge.extend_from_slice(&1i32.to_be_bytes());
        huge.extend_from_slice(&1i16.to_be_bytes());
        huge.push(b't');
        huge.extend_from_slice(&(i32::MAX / 4).to_be_bytes());
        assert_eq!(assignment_of(&huge), None);
        assert_eq!(subscription_of(&[0, 0, 0]), None);
        assert_eq!(version_of(&[0xff, 0xff]), None);
    }

    #[test]
    fn an_assignment_round_trips() {
        let parts = vec![("t".to_string(), vec![1, 0]), ("u".to_string(), vec![])];
        let bytes = encode_assignment(1, &parts);
        assert_eq!(&bytes[..2], &1i16.to_be_bytes());
        assert_eq!(assignment_of(&bytes), Some(parts));
        assert_eq!(assignment_of(&[]), Some(vec![]));
    }
}
