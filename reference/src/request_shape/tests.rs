//! The tables against the codec, the coverage of every advertised API, and the walk against
//! hostile lengths.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::RequestKind;
use kafka_protocol::protocol::VersionRange;

use super::large::{Amplifier, Large};
use super::memory::{
    UNKNOWN_TAG_BYTES, UNKNOWN_TAGS_NODE_BYTES, element_memory_bytes, struct_memory_bytes,
};
use super::sample::{Lie, hostile_bodies, request_frame, valid_body};
use super::*;

const SEEDS: u64 = 300;

fn advertised() -> Vec<(ApiKey, VersionRange)> {
    crate::api::SUPPORTED.to_vec()
}

#[test]
fn every_advertised_api_and_version_has_a_schema() {
    for (key, range) in advertised() {
        for version in range.min..=range.max {
            let message = schema(key, version);
            assert!(
                message.is_some(),
                "no request schema for {key:?} v{version}"
            );
            // The codec must decode the version the table claims to describe.
            let body = valid_body(message.unwrap_or(&MESSAGES[0]), version, 1);
            RequestKind::decode(key, &mut Bytes::from(body), version)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
        }
    }
}

#[test]
fn a_version_without_a_schema_is_refused() {
    let frame = request_frame(ApiKey::Produce, 2, 1, "c", &[0; 16]);
    assert_eq!(
        check(ApiKey::Produce, 2, &frame[4..]),
        Err(ShapeError::NoSchema {
            key: ApiKey::Produce,
            version: 2
        })
    );
    let frame = request_frame(ApiKey::DescribeClientQuotas, 0, 1, "c", &[0; 16]);
    assert!(check(ApiKey::DescribeClientQuotas, 0, &frame[4..]).is_err());
}

/// Random valid bodies from each table: `kafka-protocol` decodes them consuming exactly the
/// body, re-encodes the same bytes, and the walk takes the same length.
#[test]
fn tables_round_trip_through_the_codec() {
    let mut bodies = 0;
    for message in MESSAGES {
        for version in message.versions.min..=message.versions.max {
            for seed in 0..SEEDS {
                let body = valid_body(message, version, seed);
                let what = format!("{:?} v{version} seed {seed}: {body:?}", message.key);
                let mut buf = Bytes::from(body.clone());
                let request = RequestKind::decode(message.key, &mut buf, version)
                    .unwrap_or_else(|e| panic!("decode {what}: {e:?}"));
                assert!(buf.is_empty(), "{} bytes left: {what}", buf.len());
                let mut encoded = BytesMut::new();
                request
                    .encode(&mut encoded, version)
                    .unwrap_or_else(|e| panic!("encode {what}: {e}"));
                assert_eq!(&encoded[..], &body[..], "re-encoded differently: {what}");
                assert_eq!(
                    check_body(message, version, &body),
                    Ok(body.len()),
                    "{what}"
                );
                let frame = request_frame(message.key, version, 7, "client", &body);
                assert_eq!(check(message.key, version, &frame[4..]), Ok(()), "{what}");
                bodies += 1;
            }
        }
    }
    println!("{bodies} random valid bodies round-tripped");
    assert!(bodies > 100 * SEEDS as usize);
}

/// Every length position of every table, with 2^31-1, -2, 2^32-1 and over-long varints: the
/// walk refuses them all; where it accepts a null, the codec decodes it without harm.
#[test]
fn hostile_lengths_are_refused_at_every_position() {
    let mut refused = 0;
    for message in MESSAGES {
        for version in message.versions.min..=message.versions.max {
            let hostile = hostile_bodies(message, version);
            for h in hostile {
                let what = format!("{:?} v{version} {} {:?}", message.key, h.field, h.lie);
                let walked = check_body(message, version, &h.body);
                let frame = request_frame(message.key, version, 1, "hostile", &h.body);
                let checked = check(message.key, version, &frame[4..]);
                assert_eq!(walked.is_ok(), checked.is_ok(), "{what}");
                if h.lie.may_be_valid() {
                    if walked.is_ok() {
                        let _ = RequestKind::decode(message.key, &mut Bytes::from(h.body), version);
                    }
                    continue;
                }
                assert!(walked.is_err(), "accepted {what}: {:?}", h.body);
                refused += 1;
            }
        }
    }
    println!("{refused} hostile bodies refused");
    assert!(refused > 1000);
}

#[test]
fn the_issue_s_metadata_v1_frame_is_refused() {
    // Metadata v1: topics count 2^31-1, then a few bytes.
    let frame = request_frame(ApiKey::Metadata, 1, 1, "x", &[0x7f, 0xff, 0xff, 0xff, 0, 0]);
    let error = check(ApiKey::Metadata, 1, &frame[4..]).unwrap_err();
    assert!(
        matches!(
            error,
            ShapeError::Count {
                field: "topics",
                count: 2147483647,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn hostile_client_ids_are_refused() {
    for (length, fails) in [(i16::MAX, true), (-2, true), (4, true), (3, false)] {
        let mut frame = request_frame(ApiKey::Metadata, 1, 1, "abc", &[0, 0, 0, 0]);
        frame[12..14].copy_from_slice(&length.to_be_bytes());
        let result = check(ApiKey::Metadata, 1, &frame[4..]);
        assert_eq!(
            result.is_err(),
            fails,
            "client_id length {length}: {result:?}"
        );
    }
}

#[test]
fn flexible_header_and_varints() {
    // ApiVersions v3: header v2 (client_id non-compact, tagged buffer), compact strings.
    let body = [3, b'a', b'b', 2, b'c', 0];
    let frame = request_frame(ApiKey::ApiVersions, 3, 1, "id", &body);
    assert_eq!(check(ApiKey::ApiVersions, 3, &frame[4..]), Ok(()));
    // A header tag count of 2^32-1.
    let mut bad = frame[4..].to_vec();
    let at = 8 + 2 + 2;
    bad.splice(at..=at, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(check(ApiKey::ApiVersions, 3, &bad).is_err());
    // A 5th varint byte above 0x0f (bits the codec would drop) is refused.
    let body = [0x81, 0x80, 0x80, 0x80, 0x10, b'a', 2, b'c', 0];
    assert!(check_body(&admin::API_VERSIONS, 3, &body).is_err());
}

#[test]
fn fetch_known_tags_are_walked_with_their_type() {
    let fetch = &log::FETCH;
    // v15: replica_state (tag 1) must take exactly its declared size (12 bytes).
    let mut body = vec![];
    body.extend_from_slice(&[0; 4 * 3 + 1 + 4 * 2]); // max_wait .. session_epoch
    body.extend_from_slice(&[1, 1, 1, 1]); // topics [], forgotten [], rack_id "", 1 tag
    body.extend_from_slice(&[1, 13]);
    body.extend_from_slice(&[0; 13]); // replica_id, replica_epoch, no tags
    assert_eq!(check_body(fetch, 15, &body), Ok(body.len()));
    let n = body.len();
    body[n - 14] = 12; // declared 12 bytes for a 13-byte struct
    assert!(check_body(fetch, 15, &body).is_err());
    // Tag 1 is not valid in v14 (the codec refuses it too).
    let mut v14 = vec![0; 4 * 4 + 1 + 4 * 2];
    v14.extend_from_slice(&[1, 1, 1, 1, 1, 13]);
    v14.extend_from_slice(&[0; 13]);
    assert!(check_body(fetch, 14, &v14).is_err());
}

/// `size_of` of the codec's type for every struct of every table, by path (`Key` for the
/// request, `Key.field.field` for the structs inside).
fn codec_sizes() -> Vec<(&'static str, usize)> {
    use kafka_protocol::messages::*;
    use std::mem::size_of as s;
    vec![
        ("Produce", s::<ProduceRequest>()),
        (
            "Produce.topic_data",
            s::<produce_request::TopicProduceData>(),
        ),
        (
            "Produce.topic_data.partition_data",
            s::<produce_request::PartitionProduceData>(),
        ),
        ("Fetch", s::<FetchRequest>()),
        ("Fetch.replica_state", s::<fetch_request::ReplicaState>()),
        ("Fetch.topics", s::<fetch_request::FetchTopic>()),
        (
            "Fetch.topics.partitions",
            s::<fetch_request::FetchPartition>(),
        ),
        (
            "Fetch.forgotten_topics_data",
            s::<fetch_request::ForgottenTopic>(),
        ),
        ("ListOffsets", s::<ListOffsetsRequest>()),
        (
            "ListOffsets.topics",
            s::<list_offsets_request::ListOffsetsTopic>(),
        ),
        (
            "ListOffsets.topics.partitions",
            s::<list_offsets_request::ListOffsetsPartition>(),
        ),
        ("OffsetForLeaderEpoch", s::<OffsetForLeaderEpochRequest>()),
        (
            "OffsetForLeaderEpoch.topics",
            s::<offset_for_leader_epoch_request::OffsetForLeaderTopic>(),
        ),
        (
            "OffsetForLeaderEpoch.topics.partitions",
            s::<offset_for_leader_epoch_request::OffsetForLeaderPartition>(),
        ),
        ("Metadata", s::<MetadataRequest>()),
        (
            "Metadata.topics",
            s::<metadata_request::MetadataRequestTopic>(),
        ),
        ("ApiVersions", s::<ApiVersionsRequest>()),
        ("CreateTopics", s::<CreateTopicsRequest>()),
        (
            "CreateTopics.topics",
            s::<create_topics_request::CreatableTopic>(),
        ),
        (
            "CreateTopics.topics.assignments",
            s::<create_topics_request::CreatableReplicaAssignment>(),
        ),
        (
            "CreateTopics.topics.configs",
            s::<create_topics_request::CreatableTopicConfig>(),
        ),
        ("DeleteTopics", s::<DeleteTopicsRequest>()),
        (
            "DeleteTopics.topics",
            s::<delete_topics_request::DeleteTopicState>(),
        ),
        ("DescribeConfigs", s::<DescribeConfigsRequest>()),
        (
            "DescribeConfigs.resources",
            s::<describe_configs_request::DescribeConfigsResource>(),
        ),
        ("AlterConfigs", s::<AlterConfigsRequest>()),
        (
            "AlterConfigs.resources",
            s::<alter_configs_request::AlterConfigsResource>(),
        ),
        (
            "AlterConfigs.resources.configs",
            s::<alter_configs_request::AlterableConfig>(),
        ),
        (
            "IncrementalAlterConfigs",
            s::<IncrementalAlterConfigsRequest>(),
        ),
        (
            "IncrementalAlterConfigs.resources",
            s::<incremental_alter_configs_request::AlterConfigsResource>(),
        ),
        (
            "IncrementalAlterConfigs.resources.configs",
            s::<incremental_alter_configs_request::AlterableConfig>(),
        ),
        ("CreatePartitions", s::<CreatePartitionsRequest>()),
        (
            "CreatePartitions.topics",
            s::<create_partitions_request::CreatePartitionsTopic>(),
        ),
        (
            "CreatePartitions.topics.assignments",
            s::<create_partitions_request::CreatePartitionsAssignment>(),
        ),
        (
            "AlterPartitionReassignments",
            s::<AlterPartitionReassignmentsRequest>(),
        ),
        (
            "AlterPartitionReassignments.topics",
            s::<alter_partition_reassignments_request::ReassignableTopic>(),
        ),
        (
            "AlterPartitionReassignments.topics.partitions",
            s::<alter_partition_reassignments_request::ReassignablePartition>(),
        ),
        (
            "ListPartitionReassignments",
            s::<ListPartitionReassignmentsRequest>(),
        ),
        (
            "ListPartitionReassignments.topics",
            s::<list_partition_reassignments_request::ListPartitionReassignmentsTopics>(),
        ),
        ("ElectLeaders", s::<ElectLeadersRequest>()),
        (
            "ElectLeaders.topic_partitions",
            s::<elect_leaders_request::TopicPartitions>(),
        ),
        ("FindCoordinator", s::<FindCoordinatorRequest>()),
        ("JoinGroup", s::<JoinGroupRequest>()),
        (
            "JoinGroup.protocols",
            s::<join_group_request::JoinGroupRequestProtocol>(),
        ),
        ("SyncGroup", s::<SyncGroupRequest>()),
        (
            "SyncGroup.assignments",
            s::<sync_group_request::SyncGroupRequestAssignment>(),
        ),
        ("Heartbeat", s::<HeartbeatRequest>()),
        ("LeaveGroup", s::<LeaveGroupRequest>()),
        (
            "LeaveGroup.members",
            s::<leave_group_request::MemberIdentity>(),
        ),
        ("OffsetCommit", s::<OffsetCommitRequest>()),
        (
            "OffsetCommit.topics",
            s::<offset_commit_request::OffsetCommitRequestTopic>(),
        ),
        (
            "OffsetCommit.topics.partitions",
            s::<offset_commit_request::OffsetCommitRequestPartition>(),
        ),
        ("OffsetFetch", s::<OffsetFetchRequest>()),
        (
            "OffsetFetch.topics",
            s::<offset_fetch_request::OffsetFetchRequestTopic>(),
        ),
        (
            "OffsetFetch.groups",
            s::<offset_fetch_request::OffsetFetchRequestGroup>(),
        ),
        (
            "OffsetFetch.groups.topics",
            s::<offset_fetch_request::OffsetFetchRequestTopics>(),
        ),
        ("ListGroups", s::<ListGroupsRequest>()),
        ("DescribeGroups", s::<DescribeGroupsRequest>()),
        ("DeleteGroups", s::<DeleteGroupsRequest>()),
        ("InitProducerId", s::<InitProducerIdRequest>()),
        ("DescribeProducers", s::<DescribeProducersRequest>()),
        (
            "DescribeProducers.topics",
            s::<describe_producers_request::TopicRequest>(),
        ),
        ("AddPartitionsToTxn", s::<AddPartitionsToTxnRequest>()),
        (
            "AddPartitionsToTxn.transactions",
            s::<add_partitions_to_txn_request::AddPartitionsToTxnTransaction>(),
        ),
        (
            "AddPartitionsToTxn.transactions.topics",
            s::<add_partitions_to_txn_request::AddPartitionsToTxnTopic>(),
        ),
        (
            "AddPartitionsToTxn.v3_and_below_topics",
            s::<add_partitions_to_txn_request::AddPartitionsToTxnTopic>(),
        ),
        ("AddOffsetsToTxn", s::<AddOffsetsToTxnRequest>()),
        ("EndTxn", s::<EndTxnRequest>()),
        ("DescribeTransactions", s::<DescribeTransactionsRequest>()),
        ("ListTransactions", s::<ListTransactionsRequest>()),
        ("WriteTxnMarkers", s::<WriteTxnMarkersRequest>()),
        (
            "WriteTxnMarkers.markers",
            s::<write_txn_markers_request::WritableTxnMarker>(),
        ),
        (
            "WriteTxnMarkers.markers.topics",
            s::<write_txn_markers_request::WritableTxnMarkerTopic>(),
        ),
        ("TxnOffsetCommit", s::<TxnOffsetCommitRequest>()),
        (
            "TxnOffsetCommit.topics",
            s::<txn_offset_commit_request::TxnOffsetCommitRequestTopic>(),
        ),
        (
            "TxnOffsetCommit.topics.partitions",
            s::<txn_offset_commit_request::TxnOffsetCommitRequestPartition>(),
        ),
        ("DeleteRecords", s::<DeleteRecordsRequest>()),
        (
            "DeleteRecords.topics",
            s::<delete_records_request::DeleteRecordsTopic>(),
        ),
        (
            "DeleteRecords.topics.partitions",
            s::<delete_records_request::DeleteRecordsPartition>(),
        ),
        ("DescribeQuorum", s::<DescribeQuorumRequest>()),
        (
            "DescribeQuorum.topics",
            s::<describe_quorum_request::TopicData>(),
        ),
        (
            "DescribeQuorum.topics.partitions",
            s::<describe_quorum_request::PartitionData>(),
        ),
        ("DescribeCluster", s::<DescribeClusterRequest>()),
        ("DescribeLogDirs", s::<DescribeLogDirsRequest>()),
        (
            "DescribeLogDirs.topics",
            s::<describe_log_dirs_request::DescribableLogDirTopic>(),
        ),
        (
            "DescribeTopicPartitions",
            s::<DescribeTopicPartitionsRequest>(),
        ),
        (
            "DescribeTopicPartitions.topics",
            s::<describe_topic_partitions_request::TopicRequest>(),
        ),
        (
            "DescribeTopicPartitions.cursor",
            s::<describe_topic_partitions_request::Cursor>(),
        ),
        (
            "ConsumerGroupHeartbeat",
            s::<ConsumerGroupHeartbeatRequest>(),
        ),
        (
            "ConsumerGroupHeartbeat.topic_partitions",
            s::<consumer_group_heartbeat_request::TopicPartitions>(),
        ),
        ("ConsumerGroupDescribe", s::<ConsumerGroupDescribeRequest>()),
        ("OffsetDelete", s::<OffsetDeleteRequest>()),
        (
            "OffsetDelete.topics",
            s::<offset_delete_request::OffsetDeleteRequestTopic>(),
        ),
        (
            "OffsetDelete.topics.partitions",
            s::<offset_delete_request::OffsetDeleteRequestPartition>(),
        ),
    ]
}

/// Every struct of `fields` (arrays of structs and single structs), with its path.
fn struct_paths(fields: &'static [Field], at: &str, out: &mut Vec<(String, &'static [Field])>) {
    for f in fields {
        if let Ty::Structs(inner) | Ty::Struct(inner) | Ty::NullableStruct(inner) = f.ty {
            let path = format!("{at}.{}", f.name);
            out.push((path.clone(), inner));
            struct_paths(inner, &path, out);
        }
    }
}

/// The decoded-size model of every struct of every table is at least `size_of` of the codec's
/// type, and close to it (so that the limit does not refuse honest requests early); every
/// struct is checked (a new table must name its types here).
#[test]
fn the_memory_model_bounds_every_codec_type() {
    use super::memory::memory_bytes;
    use std::mem::size_of;
    assert_eq!(
        size_of::<kafka_protocol::protocol::StrBytes>(),
        memory_bytes(&STRING, true)
    );
    assert_eq!(size_of::<Option<Bytes>>(), memory_bytes(&BYTES, true));
    assert_eq!(
        size_of::<Option<Vec<i32>>>(),
        memory_bytes(&Ty::Array(&INT32), true)
    );
    assert_eq!(
        size_of::<kafka_protocol::messages::TopicName>(),
        element_memory_bytes(&STRING, true)
    );
    assert_eq!(size_of::<uuid::Uuid>(), memory_bytes(&UUID, true));
    let mut tables = Vec::new();
    for m in MESSAGES {
        let key = format!("{:?}", m.key);
        let mut paths = vec![(key.clone(), m.fields)];
        struct_paths(m.fields, &key, &mut paths);
        let tag_maps = m.flexible_from != NEVER;
        tables.extend(paths.into_iter().map(|(path, f)| (path, f, tag_maps)));
    }
    let sizes = codec_sizes();
    for (path, fields, tag_maps) in &tables {
        let real = sizes
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, size)| *size)
            .unwrap_or_else(|| panic!("no codec type named for {path}"));
        let estimate = struct_memory_bytes(fields, *tag_maps);
        println!("{path}: size_of {real}, estimate {estimate}");
        assert!(
            real <= estimate,
            "{path}: size_of {real} > estimate {estimate}"
        );
        assert_eq!(estimate, real, "{path}: the estimate is exact");
    }
    assert_eq!(
        tables.len(),
        sizes.len(),
        "a type named twice or for no table"
    );
}

#[test]
fn every_lie_is_tried_somewhere() {
    let mut seen = std::collections::BTreeSet::new();
    for m in MESSAGES {
        for version in [m.versions.min, m.versions.max] {
            for h in hostile_bodies(m, version) {
                seen.insert(format!("{:?}", h.lie));
            }
        }
    }
    assert_eq!(seen.len(), Lie::ALL.len(), "{seen:?}");
}

/// Valid bodies with a few bytes changed (to 0x00, 0x7f, 0xff or at random): whenever the
/// walk accepts one, the codec decodes it without harm, and where both accept they agree on
/// the body's length (the walk follows the codec's path on any input, not only canonical
/// ones).
#[test]
fn walk_and_codec_agree_on_mutated_bodies() {
    let (mut accepted, mut both) = (0, 0);
    for message in MESSAGES {
        for version in message.versions.min..=message.versions.max {
            for seed in 0..200u64 {
                let mut body = valid_body(message, version, seed);
                if body.is_empty() {
                    continue;
                }
                let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                for _ in 0..1 + seed % 3 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let at = (x % body.len() as u64) as usize;
                    body[at] = [0x00, 0x7f, 0xff, (x >> 32) as u8][(x >> 8) as usize % 4];
                }
                let Ok(walked) = check_body(message, version, &body) else {
                    continue;
                };
                accepted += 1;
                let mut buf = Bytes::from(body.clone());
                if RequestKind::decode(message.key, &mut buf, version).is_ok() {
                    both += 1;
                    let decoded = body.len() - buf.len();
                    assert_eq!(walked, decoded, "{:?} v{version}: {body:?}", message.key);
                }
            }
        }
    }
    println!("{accepted} mutated bodies accepted by the walk, {both} also decoded");
    assert!(both > 1000);
}

/// The largest ratio of decoded to wire bytes of one array element in `fields` at `version`,
/// with one empty unknown tag per struct in flexible versions (the walk's bound without the
/// decoded-size limit).
fn worst_ratio(
    fields: &[Field],
    version: i16,
    flexible: bool,
    at: &str,
    worst: &mut (f64, String),
) {
    let tag = |wire: usize, memory: usize| match flexible {
        true => (
            wire + 2,
            memory + UNKNOWN_TAGS_NODE_BYTES + UNKNOWN_TAG_BYTES,
        ),
        false => (wire, memory),
    };
    for f in fields.iter().filter(|f| f.versions.contains(version)) {
        let path = format!("{at}.{}", f.name);
        let ((wire, memory), inner) = match &f.ty {
            Ty::Array(e) => ((min_wire_bytes(e, version, flexible), memory_of(e)), None),
            Ty::Structs(s) => (
                tag(min_struct_bytes(s, version, flexible), memory_of(&f.ty)),
                Some(*s),
            ),
            Ty::Struct(s) | Ty::NullableStruct(s) => ((1, 0), Some(*s)),
            _ => ((1, 0), None),
        };
        let ratio = memory as f64 / wire.max(1) as f64;
        if ratio > worst.0 {
            *worst = (ratio, format!("{path} v{version}"));
        }
        if let Some(s) = inner {
            worst_ratio(s, version, flexible, &path, worst);
        }
    }
}

fn memory_of(array: &Ty) -> usize {
    element_memory_bytes(array, true)
}

/// Without the limit, the walk alone bounds the decoded size at `R x frame bytes` (every
/// count proven against the bytes that follow); `R` is over a hundred once unknown tags are
/// counted, which is why the limit is needed.
#[test]
fn the_walk_alone_bounds_amplification_loosely() {
    let mut worst = (0.0, String::new());
    for m in MESSAGES {
        for version in m.versions.min..=m.versions.max {
            let at = format!("{:?}", m.key);
            worst_ratio(m.fields, version, m.is_flexible(version), &at, &mut worst);
        }
    }
    println!(
        "worst decoded bytes per wire byte without the limit: {:.1} ({})",
        worst.0, worst.1
    );
    assert!(worst.0 > DECODED_LIMIT_FRAME_MULTIPLE as f64, "{worst:?}");
    assert!(worst.0 <= 256.0, "{worst:?}");
}

/// Walks `large` with no limit, then with its own: the estimate, the limit, and the result.
fn estimate(large: &Large) -> (usize, usize, Result<(), ShapeError>) {
    let estimate = check_within(large.key, large.version, large.body(), usize::MAX)
        .unwrap_or_else(|e| panic!("{}: {e}", large.what));
    let limit = decoded_limit_bytes(large.body().len());
    (
        estimate,
        limit,
        check(large.key, large.version, large.body()),
    )
}

fn decode(large: &Large) {
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::protocol::Decodable;
    let mut buf = Bytes::copy_from_slice(large.body());
    let header_version = large.key.request_header_version(large.version);
    RequestHeader::decode(&mut buf, header_version)
        .unwrap_or_else(|e| panic!("{} header: {e}", large.what));
    RequestKind::decode(large.key, &mut buf, large.version)
        .unwrap_or_else(|e| panic!("{}: {e}", large.what));
    assert!(buf.is_empty(), "{}: {} bytes left", large.what, buf.len());
}

/// The largest requests real clients plausibly send (100,000 topics of Metadata, 10,000
/// partitions of Fetch, 100,000 of OffsetCommit and of CreateTopics assignments, 100 MiB of
/// Produce) pass the walk and decode, with their estimate at most half the limit.
#[test]
fn big_honest_requests_pass_far_from_the_limit() {
    for large in super::large::honest_requests() {
        let (estimate, limit, checked) = estimate(&large);
        let frame = large.body().len();
        println!(
            "{}: frame {} KiB, decoded estimate {} KiB ({:.2}x), limit {} MiB",
            large.what,
            frame >> 10,
            estimate >> 10,
            estimate as f64 / frame as f64,
            limit >> 20
        );
        assert_eq!(checked, Ok(()), "{}", large.what);
        assert!(
            estimate <= limit / 2,
            "{}: {estimate} near {limit}",
            large.what
        );
        decode(&large);
    }
}

/// A commit of 500,000 partitions with empty metadata (~9 MiB) decodes to more than 4 times
/// its frame and more than the floor: a multiple of 4 would refuse it; 8 does not.
#[test]
fn a_commit_of_500_000_partitions_passes() {
    let large = super::large::offset_commit(9, 5_000, 100);
    let (estimate, limit, checked) = estimate(&large);
    let frame = large.body().len();
    println!(
        "{}: frame {frame}, estimate {estimate}, limit {limit}",
        large.what
    );
    assert!(estimate > 4 * frame && estimate > DECODED_LIMIT_FLOOR_BYTES);
    assert_eq!(checked, Ok(()));
    decode(&large);
}

/// The issue's case: frames of `socket.request.max.bytes` (100 MiB) of empty Metadata v0
/// names, of empty compact strings, of topics with an unknown tag, which would decode to
/// GiBs, are refused by the decoded-size limit (before their elements are walked).
#[test]
fn frames_of_100_mib_that_decode_to_gibs_are_refused() {
    for amplifier in Amplifier::ALL {
        let large = amplifier.frame(100 << 20);
        let result = check(large.key, large.version, large.body());
        println!("{}: {result:?}", large.what);
        let Err(ShapeError::DecodedTooLarge {
            estimate_bytes,
            limit_bytes,
            ..
        }) = result
        else {
            panic!("{}: {result:?}", large.what);
        };
        assert_eq!(limit_bytes, 8 * large.body().len());
        assert!(estimate_bytes > 1 << 30, "{}: {estimate_bytes}", large.what);
    }
}

/// The same frames at a few MiB: the walk's estimate is what the model says element by
/// element, above the floor they are refused, and below it they pass and decode.
#[test]
fn amplifying_frames_are_refused_above_the_floor() {
    for amplifier in Amplifier::ALL {
        let (element_wire, element_memory) = match amplifier {
            Amplifier::EmptyMetadataV0Names => (2, 72),
            Amplifier::EmptyCompactStrings => (1, 32),
            Amplifier::MetadataV9UnknownTags => {
                (4, 72 + UNKNOWN_TAGS_NODE_BYTES + UNKNOWN_TAG_BYTES)
            }
        };
        for frame_bytes in [64 << 10, 256 << 10, 1 << 20, 4 << 20] {
            let large = amplifier.frame(frame_bytes);
            let message = schema(large.key, large.version).unwrap_or(&MESSAGES[0]);
            let request = struct_memory_bytes(message.fields, true);
            let count = (frame_bytes - 40) / element_wire;
            let (estimate, limit, checked) = estimate(&large);
            println!(
                "{}: estimate {estimate}, limit {limit}: {checked:?}",
                large.what
            );
            assert!(
                estimate >= request + count * element_memory,
                "{}",
                large.what
            );
            assert!(
                estimate <= request + (count + 40) * element_memory,
                "{}",
                large.what
            );
            assert_eq!(
                checked.is_ok(),
                estimate <= DECODED_LIMIT_FLOOR_BYTES,
                "{}",
                large.what
            );
            if checked.is_ok() {
                decode(&large);
            }
            // The limit is exact: the estimate passes, one byte less does not.
            let (key, version) = (large.key, large.version);
            assert_eq!(
                check_within(key, version, large.body(), estimate),
                Ok(estimate)
            );
            assert!(matches!(
                check_within(key, version, large.body(), estimate - 1),
                Err(ShapeError::DecodedTooLarge { .. })
            ));
        }
    }
}

#[test]
fn the_limit_is_the_floor_or_a_multiple_of_the_frame() {
    assert_eq!(decoded_limit_bytes(0), DECODED_LIMIT_FLOOR_BYTES);
    assert_eq!(decoded_limit_bytes(4 << 20), DECODED_LIMIT_FLOOR_BYTES);
    assert_eq!(decoded_limit_bytes(100 << 20), 800 << 20);
    assert_eq!(decoded_limit_bytes(usize::MAX), usize::MAX);
}
