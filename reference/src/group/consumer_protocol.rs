//! Just enough of the consumer's embedded protocol to know which topics a group reads.
//!
//! The coordinator treats member metadata as opaque bytes, except for one question Kafka's
//! coordinator also asks: is the group subscribed to a topic (OffsetDelete answers
//! GROUP_SUBSCRIBED_TO_TOPIC, and retention keeps offsets of subscribed topics). Like Kafka,
//! it reads only the version-0 prefix of `ConsumerProtocolSubscription` (a version, then the
//! topic names), which every later version starts with.
//!
//! # References
//! - `org.apache.kafka.clients.consumer.internals.ConsumerProtocol`
//! - `ConsumerProtocolSubscription.json`

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
