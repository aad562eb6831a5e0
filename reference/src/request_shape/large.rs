//! Large request frames for tests: honest big requests built with `kafka-protocol`'s encoder
//! (the largest a real client plausibly sends: they must pass the walk and decode), and
//! hostile ones built byte by byte whose decoded size is many times their wire size (they
//! must be refused by the decoded-size limit, [`super::memory`]).
//!
//! # References
//! - Kafka protocol guide, the message schemas: <https://kafka.apache.org/protocol.html>

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest,
    OffsetCommitRequest, ProduceRequest, RequestKind, TopicName, create_topics_request,
    fetch_request, list_offsets_request, metadata_request, offset_commit_request, produce_request,
};
use kafka_protocol::protocol::StrBytes;

use super::sample::request_frame;

/// One request frame as sent (with its 4-byte length).
#[derive(Debug, Clone)]
pub struct Large {
    pub what: String,
    pub key: ApiKey,
    pub version: i16,
    pub frame: Vec<u8>,
}

impl Large {
    /// The frame after its 4-byte length, as the walk sees it.
    pub fn body(&self) -> &[u8] {
        &self.frame[4..]
    }
}

fn encoded(what: String, version: i16, request: RequestKind) -> Large {
    let key = api_key(&request);
    let mut body = BytesMut::new();
    request
        .encode(&mut body, version)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    Large {
        what,
        key,
        version,
        frame: request_frame(key, version, 1, "large-client", &body),
    }
}

fn api_key(request: &RequestKind) -> ApiKey {
    match request {
        RequestKind::Metadata(_) => ApiKey::Metadata,
        RequestKind::Fetch(_) => ApiKey::Fetch,
        RequestKind::OffsetCommit(_) => ApiKey::OffsetCommit,
        RequestKind::Produce(_) => ApiKey::Produce,
        RequestKind::CreateTopics(_) => ApiKey::CreateTopics,
        RequestKind::ListOffsets(_) => ApiKey::ListOffsets,
        other => panic!("no API key listed for {other:?}"),
    }
}

/// A 20-character topic name.
fn topic(i: usize) -> TopicName {
    TopicName(StrBytes::from_string(format!("topic-{i:014}")))
}

/// A Metadata request naming `topics` topics of 20 characters.
pub fn metadata(version: i16, topics: usize) -> Large {
    let list = (0..topics)
        .map(|i| metadata_request::MetadataRequestTopic::default().with_name(Some(topic(i))))
        .collect();
    let request = MetadataRequest::default().with_topics(Some(list));
    let what = format!("Metadata v{version} of {topics} topics");
    encoded(what, version, RequestKind::Metadata(request))
}

/// A Fetch of `topics` x `partitions` partitions (by name before v13, by id from v13).
pub fn fetch(version: i16, topics: usize, partitions: usize) -> Large {
    let list = (0..topics)
        .map(|t| {
            let partitions = (0..partitions as i32)
                .map(|p| {
                    fetch_request::FetchPartition::default()
                        .with_partition(p)
                        .with_fetch_offset(1 << 40)
                        .with_partition_max_bytes(1 << 20)
                })
                .collect();
            fetch_request::FetchTopic::default()
                .with_topic(topic(t))
                .with_topic_id(uuid::Uuid::from_u128(t as u128 + 1))
                .with_partitions(partitions)
        })
        .collect();
    let request = FetchRequest::default()
        .with_max_bytes(50 << 20)
        .with_topics(list);
    let what = format!("Fetch v{version} of {topics} x {partitions} partitions");
    encoded(what, version, RequestKind::Fetch(request))
}

/// An OffsetCommit of `topics` x `partitions` partitions with empty metadata.
pub fn offset_commit(version: i16, topics: usize, partitions: usize) -> Large {
    let list = (0..topics)
        .map(|t| {
            let partitions = (0..partitions as i32)
                .map(|p| {
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(1 << 40)
                        .with_committed_metadata(Some(StrBytes::from_static_str("")))
                })
                .collect();
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic(t))
                .with_partitions(partitions)
        })
        .collect();
    let request = OffsetCommitRequest::default()
        .with_group_id(StrBytes::from_static_str("a-consumer-group").into())
        .with_generation_id_or_member_epoch(1)
        .with_member_id(StrBytes::from_static_str("consumer-1-0123456789abcdef"))
        .with_topics(list);
    let what = format!("OffsetCommit v{version} of {topics} x {partitions} partitions");
    encoded(what, version, RequestKind::OffsetCommit(request))
}

/// A Produce of `partitions` partitions of `records_bytes` each (the record bytes are not
/// a valid batch: the walk and the codec treat them as opaque bytes).
pub fn produce(version: i16, partitions: usize, records_bytes: usize) -> Large {
    let records = Bytes::from(vec![0x5a; records_bytes]);
    let data = (0..partitions as i32)
        .map(|p| {
            produce_request::PartitionProduceData::default()
                .with_index(p)
                .with_records(Some(records.clone()))
        })
        .collect();
    let topic_data = produce_request::TopicProduceData::default()
        .with_name(topic(0))
        .with_partition_data(data);
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![topic_data]);
    let what = format!("Produce v{version} of {partitions} x {records_bytes} bytes");
    encoded(what, version, RequestKind::Produce(request))
}

/// A CreateTopics of one topic with `partitions` explicitly assigned partitions of 3
/// replicas.
pub fn create_topics(version: i16, partitions: usize) -> Large {
    let assignments = (0..partitions as i32)
        .map(|p| {
            create_topics_request::CreatableReplicaAssignment::default()
                .with_partition_index(p)
                .with_broker_ids(vec![
                    (p % 3).into(),
                    ((p + 1) % 3).into(),
                    ((p + 2) % 3).into(),
                ])
        })
        .collect();
    let topic = create_topics_request::CreatableTopic::default()
        .with_name(topic(0))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(assignments);
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(30_000);
    let what = format!("CreateTopics v{version} of {partitions} assigned partitions");
    encoded(what, version, RequestKind::CreateTopics(request))
}

/// A ListOffsets of `topics` x `partitions` partitions.
pub fn list_offsets(version: i16, topics: usize, partitions: usize) -> Large {
    let list = (0..topics)
        .map(|t| {
            let partitions = (0..partitions as i32)
                .map(|p| {
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(p)
                        .with_timestamp(-1)
                })
                .collect();
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic(t))
                .with_partitions(partitions)
        })
        .collect();
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(list);
    let what = format!("ListOffsets v{version} of {topics} x {partitions} partitions");
    encoded(what, version, RequestKind::ListOffsets(request))
}

/// The big honest requests the decoded-size limit must let through, in flexible and older
/// versions.
pub fn honest_requests() -> Vec<Large> {
    vec![
        metadata(4, 100_000),
        metadata(12, 100_000),
        fetch(4, 10_000, 1),
        fetch(12, 100, 100),
        fetch(13, 100, 100),
        offset_commit(2, 1_000, 100),
        offset_commit(8, 1_000, 100),
        list_offsets(6, 100, 100),
        create_topics(2, 100_000),
        create_topics(5, 100_000),
        produce(3, 4, 25 << 20),
        produce(9, 4, 25 << 20),
    ]
}

/// What a hostile frame repeats to amplify its decoded size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amplifier {
    /// Metadata v0 topics with empty names: 2 wire bytes, a 72-byte struct each.
    EmptyMetadataV0Names,
    /// DescribeGroups v5 group ids, empty compact strings: 1 wire byte, a 32-byte `StrBytes`.
    EmptyCompactStrings,
    /// Metadata v9 topics with an empty name and one empty unknown tag: 4 wire bytes, a
    /// 72-byte struct and a B-tree node each.
    MetadataV9UnknownTags,
}

impl Amplifier {
    pub const ALL: [Amplifier; 3] = [
        Amplifier::EmptyMetadataV0Names,
        Amplifier::EmptyCompactStrings,
        Amplifier::MetadataV9UnknownTags,
    ];

    pub fn key(self) -> ApiKey {
        match self {
            Amplifier::EmptyCompactStrings => ApiKey::DescribeGroups,
            _ => ApiKey::Metadata,
        }
    }

    pub fn version(self) -> i16 {
        match self {
            Amplifier::EmptyMetadataV0Names => 0,
            Amplifier::EmptyCompactStrings => 5,
            Amplifier::MetadataV9UnknownTags => 9,
        }
    }

    /// A valid request frame of about `frame_bytes` (after the 4-byte length) made of this
    /// repeated element, built byte by byte.
    pub fn frame(self, frame_bytes: usize) -> Large {
        let header = request_frame(self.key(), self.version(), 1, "x", &[]).len();
        let room = frame_bytes.saturating_sub(header + 8);
        let mut body = Vec::with_capacity(room + 8);
        match self {
            Amplifier::EmptyMetadataV0Names => {
                let count = room / 2;
                body.extend_from_slice(&(count as i32).to_be_bytes());
                body.resize(4 + count * 2, 0);
            }
            Amplifier::EmptyCompactStrings => {
                let count = room;
                uvarint(&mut body, count as u32 + 1);
                body.resize(body.len() + count, 1);
                body.extend_from_slice(&[0, 0]); // include_authorized_operations, no tags
            }
            Amplifier::MetadataV9UnknownTags => {
                let count = room / 4;
                uvarint(&mut body, count as u32 + 1);
                for _ in 0..count {
                    body.extend_from_slice(&[1, 1, 7, 0]); // "", 1 tag: tag 7, 0 bytes
                }
                body.extend_from_slice(&[0, 0, 0, 0]); // auto-create, include ops x2, no tags
            }
        }
        Large {
            what: format!("{self:?} of {frame_bytes} bytes"),
            key: self.key(),
            version: self.version(),
            frame: request_frame(self.key(), self.version(), 1, "x", &body),
        }
    }
}

fn uvarint(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}
