//! Writes the seed inputs of the fuzz corpora (`fuzz/corpus/<target>/seed-*`): valid record
//! batches of every codec, recoverable partition directories, and valid requests of every API
//! and version the broker advertises, encoded with `kafka-protocol` in each target's input
//! format. Seeds give the fuzzer the structure it would need a long time to find (CRCs,
//! headers, nested arrays); it mutates from there.
//!
//! Run from the repository root: `cargo run --manifest-path fuzz/Cargo.toml --example seeds`
//! (stable is enough). Seeds are named by content, so running it again adds nothing new.
//!
//! # References
//! - Kafka protocol guide: <https://kafka.apache.org/protocol.html>

use std::fs;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use fuzz_checks::broker::{RAW, put_request};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use reference::api::SUPPORTED;
use reference::record_batch::{self, NewRecord};

const TOPIC: &str = "fuzz";
const GROUP: &str = "fuzz-group";

fn main() -> anyhow::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    write_all(&corpus.join("record_batch"), record_batch_seeds()?)?;
    write_all(&corpus.join("log_recovery"), log_recovery_seeds()?)?;
    write_all(&corpus.join("broker_requests"), broker_seeds())?;
    Ok(())
}

fn write_all(dir: &Path, seeds: Vec<Vec<u8>>) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    for seed in &seeds {
        let name = format!("seed-{:08x}", crc32c(seed));
        fs::write(dir.join(name), seed)?;
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
    Ok(())
}

/// A name from the content (CRC-32C is at hand; collisions only merge two seeds).
fn crc32c(bytes: &[u8]) -> u32 {
    let mut padded = vec![0; 21];
    padded.extend_from_slice(bytes);
    record_batch::compute_crc(&padded)
}

fn batch(compression: Compression, base_offset: i64, count: usize) -> anyhow::Result<Vec<u8>> {
    let records: Vec<NewRecord> = (0..count)
        .map(|i| NewRecord {
            key: (i % 2 == 0).then(|| Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{i}-").repeat(i + 1))),
            timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect();
    let mut batch = record_batch::encode_producer_batch(&records, compression)?.to_vec();
    record_batch::set_base_offset(&mut batch, base_offset);
    Ok(batch)
}

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn record_batch_seeds() -> anyhow::Result<Vec<Vec<u8>>> {
    let mut seeds = Vec::new();
    for codec in CODECS {
        // Produce v9 as sent; v3 with the CRC fixed up by the check.
        seeds.push([&[9][..], &batch(codec, 0, 3)?].concat());
        seeds.push([&[0x80 | 3][..], &batch(codec, 0, 1)?].concat());
    }
    let one = batch(Compression::None, 0, 2)?;
    seeds.push([&[13][..], &one, &one].concat()); // two batches: INVALID_RECORD
    seeds.push([&[13][..], &one[..one.len() - 3]].concat()); // truncated
    Ok(seeds)
}

/// `[tag][len u16 LE][bytes]` per file; see `fuzz_checks::log_recovery`.
fn file(tag: u8, contents: &[u8]) -> Vec<u8> {
    let len = u16::try_from(contents.len()).expect("a small seed file");
    [&[tag][..], &len.to_le_bytes(), contents].concat()
}

fn log_recovery_seeds() -> anyhow::Result<Vec<Vec<u8>>> {
    const LOG: u8 = 0;
    const INDEX: u8 = 3;
    const LOG_START_OFFSET: u8 = 5;
    const LEADER_EPOCHS: u8 = 6;
    // tag >> 3 indexes BASE_OFFSETS: 0 is offset 0, 3 is offset 3.
    let at_3 = 3 << 3;
    let first = [
        batch(Compression::None, 0, 1)?,
        batch(Compression::Gzip, 1, 2)?,
    ]
    .concat();
    let second = [
        batch(Compression::Lz4, 3, 2)?,
        batch(Compression::None, 5, 1)?,
    ]
    .concat();
    let mut seeds = vec![
        file(LOG, &first),
        [file(LOG, &first), file(at_3 | LOG, &second)].concat(),
        [
            file(LOG, &first),
            file(INDEX, &[0, 0, 0, 1, 0, 0, 0, 80]),
            file(at_3 | LOG, &second[..second.len() - 5]),
        ]
        .concat(),
        [file(LOG, &first), file(LOG_START_OFFSET, b"2\n")].concat(),
        [file(LOG, &first), file(LEADER_EPOCHS, b"0\n2\n0 0\n3 1\n")].concat(),
    ];
    let mut corrupt = first.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    seeds.push(file(1, &corrupt)); // kind 1: the check rewrites the CRCs
    seeds.push(file(LOG, &corrupt));
    Ok(seeds)
}

fn broker_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (index, (key, range)) in SUPPORTED.iter().enumerate() {
        let mut versions = vec![range.min, range.max, (range.min + range.max) / 2];
        versions.dedup();
        for version in versions {
            if let Some(body) = encode_request(*key, version) {
                let selector = u8::try_from(index).expect("fewer than 256 APIs");
                let version_offset = u8::try_from(version - range.min).expect("small range");
                seeds.push(framed(selector, version_offset, &body));
            }
        }
    }
    // Create a topic, produce to it, fetch it: three frames on one connection.
    let sequence = [
        ApiKey::CreateTopics,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
    ];
    let mut conversation = Vec::new();
    for key in sequence {
        let (index, (_, range)) = SUPPORTED
            .iter()
            .enumerate()
            .find(|(_, (k, _))| *k == key)
            .expect("advertised");
        let version = range
            .max
            .min(if key == ApiKey::Produce { 9 } else { range.max });
        if let Some(body) = encode_request(key, version) {
            conversation.extend(framed(index as u8, (version - range.min) as u8, &body));
        }
    }
    seeds.push(conversation);
    // Raw: an ApiVersions v3 frame exactly as a client writes it.
    let mut raw = vec![RAW];
    let body = encode_request(ApiKey::ApiVersions, 3).expect("ApiVersions v3");
    put_request(&mut raw, ApiKey::ApiVersions, 3, 1, &body);
    seeds.push(raw);
    seeds
}

fn framed(selector: u8, version_offset: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len()).expect("a small seed body");
    [&[selector, version_offset][..], &len.to_be_bytes(), body].concat()
}

/// A meaningful request, or the default one where the version lacks a field set here.
fn encode_request(key: ApiKey, version: i16) -> Option<Vec<u8>> {
    let encode = |request: RequestKind| {
        let mut out = BytesMut::new();
        request
            .encode(&mut out, version)
            .ok()
            .map(|()| out.to_vec())
    };
    encode(meaningful(key)).or_else(|| encode(default_request(key)?))
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

fn group() -> GroupId {
    GroupId(StrBytes::from_static_str(GROUP))
}

fn meaningful(key: ApiKey) -> RequestKind {
    match key {
        ApiKey::Produce => RequestKind::Produce(produce()),
        ApiKey::Fetch => RequestKind::Fetch(fetch()),
        ApiKey::ListOffsets => {
            RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)]),
            ]))
        }
        ApiKey::Metadata => RequestKind::Metadata(
            MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(topic())),
                ]))
                .with_allow_auto_topic_creation(true),
        ),
        ApiKey::CreateTopics => RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(topic())
                        .with_num_partitions(2)
                        .with_replication_factor(1),
                ])
                .with_timeout_ms(1000),
        ),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(
            DeleteTopicsRequest::default()
                .with_topic_names(vec![TopicName(StrBytes::from_static_str("fuzz-deleted"))]),
        ),
        ApiKey::DescribeConfigs => {
            RequestKind::DescribeConfigs(DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str(TOPIC)),
            ]))
        }
        ApiKey::CreatePartitions => {
            RequestKind::CreatePartitions(CreatePartitionsRequest::default().with_topics(vec![
                CreatePartitionsTopic::default().with_name(topic()).with_count(3),
            ]))
        }
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(
            FindCoordinatorRequest::default().with_key(StrBytes::from_static_str(GROUP)),
        ),
        ApiKey::JoinGroup => RequestKind::JoinGroup(join_group()),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(group())
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![
                    OffsetCommitRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![
                            OffsetCommitRequestPartition::default().with_committed_offset(1),
                        ]),
                ]),
        ),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(
            OffsetFetchRequest::default()
                .with_group_id(group())
                .with_topics(None),
        ),
        ApiKey::DescribeGroups => {
            RequestKind::DescribeGroups(DescribeGroupsRequest::default().with_groups(vec![group()]))
        }
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![group()]),
        ),
        ApiKey::SyncGroup => RequestKind::SyncGroup(
            SyncGroupRequest::default()
                .with_group_id(group())
                .with_member_id(StrBytes::from_static_str("member")),
        ),
        ApiKey::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default()
                .with_group_id(group())
                .with_member_id(StrBytes::from_static_str("member")),
        ),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(
            LeaveGroupRequest::default()
                .with_group_id(group())
                .with_member_id(StrBytes::from_static_str("member")),
        ),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default()
                .with_group_id(group())
                .with_topics(vec![
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![OffsetDeleteRequestPartition::default()]),
                ]),
        ),
        other => default_request(other).unwrap_or(RequestKind::ApiVersions(Default::default())),
    }
}

fn produce() -> ProduceRequest {
    let records = batch(Compression::None, 0, 2).expect("a batch");
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(records))),
                ]),
        ])
}

fn fetch() -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic())
                .with_partitions(vec![
                    FetchPartition::default().with_partition_max_bytes(1 << 16),
                ]),
        ])
}

fn join_group() -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(group())
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(b"\x00\x00\x00\x00\x00\x01\x00\x04fuzz")),
        ])
}

fn default_request(key: ApiKey) -> Option<RequestKind> {
    Some(match key {
        ApiKey::Produce => RequestKind::Produce(Default::default()),
        ApiKey::Fetch => RequestKind::Fetch(Default::default()),
        ApiKey::ListOffsets => RequestKind::ListOffsets(Default::default()),
        ApiKey::Metadata => RequestKind::Metadata(Default::default()),
        ApiKey::ApiVersions => RequestKind::ApiVersions(Default::default()),
        ApiKey::CreateTopics => RequestKind::CreateTopics(Default::default()),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(Default::default()),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(Default::default()),
        ApiKey::CreatePartitions => RequestKind::CreatePartitions(Default::default()),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(Default::default()),
        ApiKey::JoinGroup => RequestKind::JoinGroup(Default::default()),
        ApiKey::SyncGroup => RequestKind::SyncGroup(Default::default()),
        ApiKey::Heartbeat => RequestKind::Heartbeat(Default::default()),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(Default::default()),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(Default::default()),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(Default::default()),
        ApiKey::ListGroups => RequestKind::ListGroups(Default::default()),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(Default::default()),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(Default::default()),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(Default::default()),
        _ => return None,
    })
}
