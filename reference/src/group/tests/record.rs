//! The group log's records: Kafka's byte layout, round trips, garbage, and replay.

use proptest::prelude::*;

use super::*;

fn offset_record(expire: Option<i64>) -> GroupRecord {
    GroupRecord::OffsetCommit {
        group_id: "g".into(),
        topic: "orders".into(),
        partition: 3,
        value: Some(OffsetCommitValue {
            offset: 16,
            leader_epoch: 2,
            metadata: "m".into(),
            commit_timestamp_ms: 1_000,
            expire_timestamp_ms: expire,
        }),
    }
}

fn group_record(long_strings: bool) -> GroupRecord {
    let client_id = if long_strings {
        "c".repeat(40_000)
    } else {
        "client".into()
    };
    GroupRecord::GroupMetadata {
        group_id: "g".into(),
        value: Some(GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("a".into()),
            current_state_timestamp_ms: 77,
            members: vec![MemberMetadata {
                member_id: "a".into(),
                group_instance_id: Some("i".into()),
                client_id,
                client_host: "/10.0.0.1".into(),
                rebalance_timeout_ms: 30_000,
                session_timeout_ms: 10_000,
                subscription: Bytes::from_static(&[0, 1, 2]),
                assignment: Bytes::from_static(&[9]),
            }],
        }),
    }
}

#[test]
fn records_use_kafkas_consumer_offsets_layout() {
    let record = offset_record(None);
    // OffsetCommitKey v1: version, group, topic, partition.
    assert_eq!(
        record.key().as_ref(),
        b"\x00\x01\x00\x01g\x00\x06orders\x00\x00\x00\x03"
    );
    // OffsetCommitValue v3: version, offset, leader epoch, metadata, commit timestamp.
    let value = record.value().unwrap();
    let mut expected = vec![0, 3];
    expected.extend_from_slice(&16i64.to_be_bytes());
    expected.extend_from_slice(&2i32.to_be_bytes());
    expected.extend_from_slice(b"\x00\x01m");
    expected.extend_from_slice(&1_000i64.to_be_bytes());
    assert_eq!(value.as_ref(), expected.as_slice());
    // With an expire timestamp Kafka writes v1 (no leader epoch, an expire timestamp).
    assert_eq!(&offset_record(Some(5)).value().unwrap()[..2], &[0, 1]);
    // GroupMetadataKey v2, GroupMetadataValue v3.
    let record = group_record(false);
    assert_eq!(record.key().as_ref(), b"\x00\x02\x00\x01g");
    assert_eq!(&record.value().unwrap()[..2], &[0, 3]);
}

#[test]
fn records_round_trip() {
    let tombstones = [
        GroupRecord::OffsetCommit {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 0,
            value: None,
        },
        GroupRecord::GroupMetadata {
            group_id: "g".into(),
            value: None,
        },
    ];
    let mut all = vec![
        offset_record(None),
        offset_record(Some(9)),
        group_record(false),
        group_record(true),
    ];
    all.extend(tombstones);
    for record in all {
        let value = record.value();
        let mut expected = record.clone();
        // Like Kafka's, a v1 value (a commit with its own retention) has no leader epoch.
        if let GroupRecord::OffsetCommit { value: Some(v), .. } = &mut expected {
            v.leader_epoch = if v.expire_timestamp_ms.is_some() {
                -1
            } else {
                v.leader_epoch
            };
        }
        assert_eq!(
            GroupRecord::decode(&record.key(), value.as_deref()),
            Ok(expected)
        );
    }
    // Strings too long for v3 make the value flexible (v4).
    assert_eq!(&group_record(true).value().unwrap()[..2], &[0, 4]);
}

#[test]
fn other_record_types_and_bad_versions_are_errors() {
    assert_eq!(
        GroupRecord::decode(b"\x00\x03\x00\x01g", None),
        Err(RecordError::UnknownKeyVersion(3))
    );
    let key = offset_record(None).key();
    assert_eq!(
        GroupRecord::decode(&key, Some(b"\x00\x09")),
        Err(RecordError::UnknownValueVersion(9))
    );
    assert_eq!(
        GroupRecord::decode(b"\x00", None),
        Err(RecordError::Truncated)
    );
    assert_eq!(
        GroupRecord::decode(b"\x00\x02\xff\xfe", None),
        Err(RecordError::InvalidLength(-2))
    );
}

proptest! {
    #[test]
    fn garbage_never_panics(key in proptest::collection::vec(any::<u8>(), 0..40),
                            value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200))) {
        let _ = GroupRecord::decode(&key, value.as_deref());
        // The same bytes as the value of each record type.
        let _ = GroupRecord::decode(b"\x00\x02\x00\x01g", value.as_deref());
        let _ = GroupRecord::decode(&offset_record(None).key(), value.as_deref());
    }

    #[test]
    fn truncated_records_are_errors(cut in 0usize..200) {
        let record = group_record(false);
        let value = record.value().unwrap();
        let cut = cut.min(value.len() - 1);
        prop_assert!(GroupRecord::decode(&record.key(), Some(&value[..cut])).is_err());
    }
}

#[test]
fn replaying_the_log_restores_groups_and_offsets() {
    let mut h = Harness::new(config());
    let (ids, generation) = h.stable_group("order_processing_group", 3);
    h.commit(
        "order_processing_group",
        &ids[1],
        generation,
        &[("orders", 2, 16, Some("from b"))],
    );
    h.commit("simple", "", -1, &[("payments", 0, 5, None)]);
    let (gone, _) = h.stable_group("gone", 1);
    h.leave_v(LEAVE_V, &leave_request("gone", &[(&gone[0], None)]));
    let mut fresh = h.replayed();
    assert_eq!(fresh.all_committed_offsets(), h.c.all_committed_offsets());
    assert_eq!(fresh.group_ids(), h.c.group_ids());
    for group in h.c.group_ids() {
        assert_eq!(
            fresh.group_summary(&group),
            h.c.group_summary(&group),
            "{group}"
        );
    }
    // Loaded members must heartbeat within their session, like after a coordinator move.
    let g = "order_processing_group";
    let heartbeat = |c: &mut GroupCoordinator, now: i64, m: &str| {
        c.heartbeat(
            now,
            &RequestContext::version(HEARTBEAT_V),
            &heartbeat_request(g, m, generation),
        )
        .error_code
    };
    let now = h.now;
    assert_eq!(heartbeat(&mut fresh, now + 5_000, &ids[0]), code::NONE);
    assert_eq!(heartbeat(&mut fresh, now + 5_000, &ids[1]), code::NONE);
    let fx = fresh.tick(now + i64::from(SESSION_MS));
    assert!(fx.completions.is_empty());
    assert_eq!(
        fresh.group_state(g),
        Some(GroupState::PreparingRebalance),
        "ids[2] never came back"
    );
    assert_eq!(
        heartbeat(&mut fresh, now + 10_000, &ids[2]),
        code::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn replay_of_kafkas_older_value_versions() {
    // GroupMetadataValue v0: no current state timestamp, no instance id, no rebalance timeout.
    let mut value = vec![0u8, 0];
    let string = |v: &mut Vec<u8>, s: &str| {
        v.extend_from_slice(&(s.len() as i16).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
    };
    string(&mut value, "consumer");
    value.extend_from_slice(&3i32.to_be_bytes());
    string(&mut value, "range");
    string(&mut value, "m1");
    value.extend_from_slice(&1i32.to_be_bytes());
    string(&mut value, "m1");
    string(&mut value, "client");
    string(&mut value, "/1.2.3.4");
    value.extend_from_slice(&10_000i32.to_be_bytes());
    value.extend_from_slice(&0i32.to_be_bytes());
    value.extend_from_slice(&1i32.to_be_bytes());
    value.push(5);
    let record = GroupRecord::decode(b"\x00\x02\x00\x01g", Some(&value)).unwrap();
    let mut c = GroupCoordinator::with_seed(config(), 0, 1);
    c.replay(&record);
    c.on_loaded(0);
    let summary = c.group_summary("g").unwrap();
    assert_eq!(
        (
            summary.state,
            summary.generation_id,
            summary.leader_id.as_deref()
        ),
        (GroupState::Stable, 3, Some("m1"))
    );
    assert_eq!(summary.members[0].assignment.as_ref(), &[5]);
}
