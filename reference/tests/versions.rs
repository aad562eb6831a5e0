//! Every version of every API the broker advertises really answers: one representative
//! request per (API, version), over TCP, whose response must decode with that version's
//! schema. A field set that the version lacks, or a request shape a version cannot carry,
//! shows up here as a closed connection instead of a response.

mod common;

use bytes::{Bytes, BytesMut};
use common::Conn;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use reference::EmbeddedBroker;
use reference::api::SUPPORTED;
use reference::embedded::BrokerOptions;
use uuid::Uuid;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn one_record_batch() -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from_static(b"v")),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, [&record], &options).unwrap();
    buf.freeze()
}

/// A valid request of `key` at `version` against topic `orders` (id `orders_id`).
fn request(key: ApiKey, version: i16, orders_id: Uuid) -> RequestKind {
    let topic_ref = |v13: bool| {
        if v13 {
            (name(""), orders_id)
        } else {
            (name("orders"), Uuid::nil())
        }
    };
    match key {
        ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::Metadata => {
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(name("orders"))),
            ])))
        }
        ApiKey::Produce => {
            let (n, id) = topic_ref(version >= 13);
            RequestKind::Produce(
                ProduceRequest::default()
                    .with_acks(1)
                    .with_timeout_ms(1000)
                    .with_topic_data(vec![
                        produce_request::TopicProduceData::default()
                            .with_name(n)
                            .with_topic_id(id)
                            .with_partition_data(vec![
                                produce_request::PartitionProduceData::default()
                                    .with_index(0)
                                    .with_records(Some(one_record_batch())),
                            ]),
                    ]),
            )
        }
        ApiKey::Fetch => {
            let (n, id) = topic_ref(version >= 13);
            RequestKind::Fetch(
                FetchRequest::default()
                    .with_max_wait_ms(0)
                    .with_max_bytes(1 << 20)
                    .with_topics(vec![
                        fetch_request::FetchTopic::default()
                            .with_topic(n)
                            .with_topic_id(id)
                            .with_partitions(vec![
                                fetch_request::FetchPartition::default()
                                    .with_partition(0)
                                    .with_partition_max_bytes(1 << 20),
                            ]),
                    ]),
            )
        }
        ApiKey::ListOffsets => {
            RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(name("orders"))
                    .with_partitions(vec![
                        list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1),
                    ]),
            ]))
        }
        ApiKey::CreateTopics => {
            RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(name(&format!("created-v{version}")))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]))
        }
        ApiKey::DeleteTopics if version >= 6 => {
            RequestKind::DeleteTopics(DeleteTopicsRequest::default().with_topics(vec![
                delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(name(&format!("created-v{}", version + 1)))),
            ]))
        }
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(
            DeleteTopicsRequest::default()
                .with_topic_names(vec![name(&format!("created-v{}", version + 1))]),
        ),
        ApiKey::DescribeConfigs => {
            RequestKind::DescribeConfigs(DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("orders")),
        ]))
        }
        ApiKey::AlterConfigs => {
            RequestKind::AlterConfigs(AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("orders"))
                    .with_configs(vec![
                        alter_configs_request::AlterableConfig::default()
                            .with_name(StrBytes::from_static_str("retention.ms"))
                            .with_value(Some(StrBytes::from_string(format!(
                                "{}",
                                3_600_000 + i32::from(version)
                            )))),
                    ]),
            ]))
        }
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(StrBytes::from_static_str(""))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(StrBytes::from_static_str("log.retention.ms"))
                            .with_config_operation(0)
                            .with_value(Some(StrBytes::from_string(format!(
                                "{}",
                                7_200_000 + i32::from(version)
                            )))),
                    ]),
            ]),
        ),
        ApiKey::CreatePartitions => {
            RequestKind::CreatePartitions(CreatePartitionsRequest::default().with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(name("orders"))
                    .with_count(1),
            ]))
        }
        ApiKey::DeleteRecords => RequestKind::DeleteRecords(
            DeleteRecordsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![
                    delete_records_request::DeleteRecordsTopic::default()
                        .with_name(name("orders"))
                        .with_partitions(vec![
                            delete_records_request::DeleteRecordsPartition::default()
                                .with_partition_index(0)
                                .with_offset(-1),
                        ]),
                ]),
        ),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(
            DescribeClusterRequest::default()
                .with_include_cluster_authorized_operations(true)
                .with_include_fenced_brokers(version >= 2),
        ),
        // Every replica (null) on odd versions; on even ones orders' partitions and one of a
        // topic the broker does not have, which is left out.
        ApiKey::DescribeLogDirs => RequestKind::DescribeLogDirs(
            DescribeLogDirsRequest::default().with_topics((version % 2 == 0).then(|| {
                vec![
                    describe_log_dirs_request::DescribableLogDirTopic::default()
                        .with_topic(name("orders"))
                        .with_partitions(vec![0, 1, 2]),
                    describe_log_dirs_request::DescribableLogDirTopic::default()
                        .with_topic(name("nosuch"))
                        .with_partitions(vec![0]),
                ]
            })),
        ),
        ApiKey::DescribeQuorum => {
            RequestKind::DescribeQuorum(DescribeQuorumRequest::default().with_topics(vec![
                describe_quorum_request::TopicData::default()
                    .with_topic_name(name("__cluster_metadata"))
                    .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
            ]))
        }
        ApiKey::DescribeTopicPartitions => RequestKind::DescribeTopicPartitions(
            DescribeTopicPartitionsRequest::default()
                .with_topics(vec![
                    describe_topic_partitions_request::TopicRequest::default()
                        .with_name(name("orders")),
                ])
                .with_response_partition_limit(2000)
                .with_cursor(Some(
                    describe_topic_partitions_request::Cursor::default()
                        .with_topic_name(name("orders"))
                        .with_partition_index(1),
                )),
        ),
        _ => group_request(key, version),
    }
}

fn group_request(key: ApiKey, version: i16) -> RequestKind {
    let group = || GroupId(StrBytes::from_string(format!("group-{key:?}-v{version}")));
    match key {
        ApiKey::FindCoordinator if version >= 4 => RequestKind::FindCoordinator(
            FindCoordinatorRequest::default()
                .with_coordinator_keys(vec![StrBytes::from_static_str("g")]),
        ),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(
            FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
        ),
        ApiKey::JoinGroup => RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(group())
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(if version >= 1 { 10_000 } else { -1 })
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![
                    join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(StrBytes::from_static_str("range"))
                        .with_metadata(Bytes::new()),
                ]),
        ),
        ApiKey::SyncGroup => RequestKind::SyncGroup(
            SyncGroupRequest::default()
                .with_group_id(group())
                .with_generation_id(1)
                .with_member_id(StrBytes::from_static_str("m")),
        ),
        ApiKey::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default()
                .with_group_id(group())
                .with_generation_id(1)
                .with_member_id(StrBytes::from_static_str("m")),
        ),
        ApiKey::LeaveGroup if version >= 3 => RequestKind::LeaveGroup(
            LeaveGroupRequest::default()
                .with_group_id(group())
                .with_members(vec![
                    leave_group_request::MemberIdentity::default()
                        .with_member_id(StrBytes::from_static_str("m")),
                ]),
        ),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(
            LeaveGroupRequest::default()
                .with_group_id(group())
                .with_member_id(StrBytes::from_static_str("m")),
        ),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(group())
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(name("orders"))
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_committed_offset(1),
                        ]),
                ]),
        ),
        ApiKey::OffsetFetch if version >= 8 => {
            RequestKind::OffsetFetch(OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group())
                    .with_topics(None),
            ]))
        }
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(
            OffsetFetchRequest::default()
                .with_group_id(group())
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(name("orders"))
                        .with_partition_indexes(vec![0]),
                ])),
        ),
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::DescribeGroups => {
            RequestKind::DescribeGroups(DescribeGroupsRequest::default().with_groups(vec![group()]))
        }
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![group()]),
        ),
        // A new member of a KIP-848 group per version (v1: the member id is the client's own,
        // KIP-1082; v0: the coordinator makes one).
        ApiKey::ConsumerGroupHeartbeat => RequestKind::ConsumerGroupHeartbeat(
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(format!("kip848-v{version}"))))
                .with_member_id(StrBytes::from_string(if version >= 1 {
                    Uuid::new_v4().to_string()
                } else {
                    String::new()
                }))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![name("orders")]))
                .with_topic_partitions(Some(vec![])),
        ),
        ApiKey::ConsumerGroupDescribe => RequestKind::ConsumerGroupDescribe(
            ConsumerGroupDescribeRequest::default()
                .with_group_ids(vec![GroupId(StrBytes::from_static_str("kip848-v0"))]),
        ),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default()
                .with_group_id(group())
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(name("orders"))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(0),
                        ]),
                ]),
        ),
        ApiKey::DescribeProducers => {
            RequestKind::DescribeProducers(DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(name("orders"))
                    .with_partition_indexes(vec![0, 7]),
            ]))
        }
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        ),
        ApiKey::AddPartitionsToTxn => RequestKind::AddPartitionsToTxn(add_partitions(version)),
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(txn_id())
                .with_producer_id(ProducerId(1))
                .with_producer_epoch(0)
                .with_group_id(group()),
        ),
        ApiKey::EndTxn => RequestKind::EndTxn(
            EndTxnRequest::default()
                .with_transactional_id(txn_id())
                .with_producer_id(ProducerId(1))
                .with_producer_epoch(0)
                .with_committed(true),
        ),
        ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(
            DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id()]),
        ),
        ApiKey::ListTransactions => RequestKind::ListTransactions(
            ListTransactionsRequest::default()
                .with_state_filters(vec![StrBytes::from_static_str("Ongoing")])
                .with_duration_filter(-1)
                .with_transactional_id_pattern(
                    (version >= 2).then(|| StrBytes::from_static_str("pay.*")),
                ),
        ),
        ApiKey::WriteTxnMarkers => {
            RequestKind::WriteTxnMarkers(WriteTxnMarkersRequest::default().with_markers(vec![
                write_txn_markers_request::WritableTxnMarker::default()
                    .with_producer_id(ProducerId(1))
                    .with_producer_epoch(0)
                    .with_transaction_result(false)
                    .with_coordinator_epoch(0)
                    .with_topics(vec![
                        write_txn_markers_request::WritableTxnMarkerTopic::default()
                            .with_name(name("orders"))
                            .with_partition_indexes(vec![0]),
                    ]),
            ]))
        }
        ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_static_str("payments-txn")))
                .with_group_id(group())
                .with_producer_id(ProducerId(1))
                .with_producer_epoch(0)
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(name("orders"))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1),
                        ]),
                ]),
        ),
        other => cluster_request(other),
    }
}

fn txn_id() -> TransactionalId {
    TransactionalId(StrBytes::from_static_str("payments-processor"))
}

/// AddPartitionsToTxn: a client's one transaction before v4, a broker's batch from v4.
fn add_partitions(version: i16) -> AddPartitionsToTxnRequest {
    use add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
    let topics = vec![
        AddPartitionsToTxnTopic::default()
            .with_name(name("orders"))
            .with_partitions(vec![0]),
    ];
    if version < 4 {
        return AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn_id())
            .with_v3_and_below_producer_id(ProducerId(1))
            .with_v3_and_below_producer_epoch(0)
            .with_v3_and_below_topics(topics);
    }
    AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(txn_id())
            .with_producer_id(ProducerId(1))
            .with_producer_epoch(0)
            .with_verify_only(true)
            .with_topics(topics),
    ])
}

#[tokio::test]
async fn every_advertised_version_of_every_api_answers() {
    let options = BrokerOptions {
        configs: vec![("group.initial.rebalance.delay.ms".into(), "0".into())],
        ..Default::default()
    };
    let broker = EmbeddedBroker::start_with(options).await.unwrap();
    let mut conn = Conn::connect(broker.bootstrap()).await;
    let create = request(ApiKey::CreateTopics, 7, Uuid::nil());
    let ResponseKind::CreateTopics(created) = conn
        .call(
            ApiKey::CreateTopics,
            7,
            match create {
                RequestKind::CreateTopics(r) => RequestKind::CreateTopics(r.with_topics(vec![
                        create_topics_request::CreatableTopic::default()
                            .with_name(name("orders"))
                            .with_num_partitions(3)
                            .with_replication_factor(1),
                    ])),
                _ => unreachable!(),
            },
        )
        .await
    else {
        panic!()
    };
    let orders_id = created.topics[0].topic_id;
    assert!(!orders_id.is_nil());
    let mut answered = 0;
    for (key, range) in SUPPORTED {
        for version in range.min..=range.max {
            let response = conn
                .call(*key, version, request(*key, version, orders_id))
                .await;
            match &response {
                ResponseKind::AlterConfigs(r) => {
                    assert_eq!(r.responses[0].error_code, 0, "AlterConfigs v{version}")
                }
                ResponseKind::IncrementalAlterConfigs(r) => assert_eq!(
                    r.responses[0].error_code, 0,
                    "IncrementalAlterConfigs v{version}"
                ),
                ResponseKind::DescribeConfigs(r) => {
                    assert_eq!(r.results[0].error_code, 0, "DescribeConfigs v{version}")
                }
                ResponseKind::DescribeLogDirs(r) => {
                    assert_eq!(r.error_code, 0, "DescribeLogDirs v{version}");
                    let [dir] = &r.results[..] else {
                        panic!("DescribeLogDirs v{version}: one log dir, got {r:?}")
                    };
                    assert_eq!(dir.error_code, 0, "DescribeLogDirs v{version}");
                    assert_eq!(dir.log_dir.as_str(), "memory:broker-1");
                    assert_eq!((dir.total_bytes, dir.usable_bytes), (-1, -1));
                    let orders = dir.topics.iter().find(|t| t.name.0.as_str() == "orders");
                    let partitions: Vec<i32> = orders
                        .map(|t| t.partitions.iter().map(|p| p.partition_index).collect())
                        .unwrap_or_default();
                    assert_eq!(partitions, [0, 1, 2], "DescribeLogDirs v{version}");
                    assert!(dir.topics.iter().all(|t| t.name.0.as_str() != "nosuch"));
                }
                ResponseKind::ConsumerGroupHeartbeat(r) => {
                    assert_eq!(r.error_code, 0, "ConsumerGroupHeartbeat v{version}");
                    // A new group is at epoch 1 (as in Kafka 4.3.1): its first member joins at 2.
                    assert_eq!(r.member_epoch, 2, "ConsumerGroupHeartbeat v{version}");
                    let assigned: usize = r
                        .assignment
                        .iter()
                        .flat_map(|a| &a.topic_partitions)
                        .map(|t| t.partitions.len())
                        .sum();
                    assert_eq!(assigned, 3, "the first member gets orders' 3 partitions");
                }
                ResponseKind::ConsumerGroupDescribe(r) => {
                    assert_eq!(
                        r.groups[0].error_code, 0,
                        "ConsumerGroupDescribe v{version}"
                    );
                    assert_eq!(r.groups[0].members.len(), 1);
                }
                ResponseKind::AlterPartitionReassignments(r) => {
                    assert_eq!(r.error_code, 0, "AlterPartitionReassignments v{version}");
                    let p = &r.responses[0].partitions[0];
                    assert_eq!(
                        p.error_code, 85,
                        "a cancel with nothing to cancel is NO_REASSIGNMENT_IN_PROGRESS"
                    );
                }
                ResponseKind::ListPartitionReassignments(r) => {
                    assert_eq!(r.error_code, 0, "ListPartitionReassignments v{version}");
                    assert!(r.topics.is_empty(), "nothing is being reassigned");
                }
                _ => {}
            }
            let variant = format!("{response:?}");
            assert!(
                variant.starts_with(&format!("{key:?}(")),
                "{key:?} v{version} answered {variant:.80}"
            );
            answered += 1;
        }
    }
    assert!(
        answered > 100,
        "only {answered} (API, version) pairs answered"
    );
    broker.shutdown().await;
}

/// A valid request (for every version) of an API only a cluster broker answers, against
/// partition 0 of topic `orders`.
fn cluster_request(key: ApiKey) -> RequestKind {
    match key {
        ApiKey::OffsetForLeaderEpoch => {
            use offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
            RequestKind::OffsetForLeaderEpoch(
                OffsetForLeaderEpochRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![
                        OffsetForLeaderTopic::default()
                            .with_topic(name("orders"))
                            .with_partitions(vec![
                                OffsetForLeaderPartition::default()
                                    .with_partition(0)
                                    .with_current_leader_epoch(-1)
                                    .with_leader_epoch(0),
                            ]),
                    ]),
            )
        }
        ApiKey::ElectLeaders => RequestKind::ElectLeaders(
            ElectLeadersRequest::default()
                .with_election_type(0)
                .with_timeout_ms(5000)
                .with_topic_partitions(Some(vec![
                    elect_leaders_request::TopicPartitions::default()
                        .with_topic(name("orders"))
                        .with_partitions(vec![0]),
                ])),
        ),
        ApiKey::AlterPartitionReassignments => RequestKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![
                    alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_name(name("orders"))
                        .with_partitions(vec![
                            alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_partition_index(0)
                                .with_replicas(None),
                        ]),
                ]),
        ),
        ApiKey::ListPartitionReassignments => RequestKind::ListPartitionReassignments(
            ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(None),
        ),
        other => panic!("no representative cluster request for {other:?}: add one"),
    }
}

/// The replication APIs, which Kafka's single node answers too: every version answers,
/// and the answer says what it should (the one broker leads, so no election is needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_version_of_the_cluster_apis_answers() {
    let cluster = common::cluster::start(1, None, &[]).await;
    let mut conn = common::cluster::connect(&cluster, 1).await;
    common::cluster::create_topic_with(&mut conn, "orders", 1, 1, &[]).await;
    let ResponseKind::ApiVersions(versions) = conn
        .call(
            ApiKey::ApiVersions,
            3,
            RequestKind::ApiVersions(ApiVersionsRequest::default()),
        )
        .await
    else {
        panic!("not ApiVersions")
    };
    let extra: Vec<(ApiKey, i16, i16)> = versions
        .api_keys
        .iter()
        .filter(|v| {
            [ApiKey::OffsetForLeaderEpoch, ApiKey::ElectLeaders]
                .iter()
                .any(|k| *k as i16 == v.api_key)
        })
        .map(|v| {
            let key = ApiKey::try_from(v.api_key).expect("a known key");
            (key, v.min_version, v.max_version)
        })
        .collect();
    assert_eq!(
        extra,
        vec![
            (ApiKey::OffsetForLeaderEpoch, 2, 4),
            (ApiKey::ElectLeaders, 0, 2)
        ]
    );
    let mut answered = 0;
    for (key, min, max) in extra {
        for version in min..=max {
            let response = conn.call(key, version, cluster_request(key)).await;
            match response {
                ResponseKind::OffsetForLeaderEpoch(r) => {
                    let p = &r.topics[0].partitions[0];
                    assert_eq!((p.error_code, p.leader_epoch), (0, 0), "v{version}");
                }
                ResponseKind::ElectLeaders(r) => {
                    assert_eq!(r.error_code, 0, "v{version}");
                    let p = &r.replica_election_results[0].partition_result[0];
                    assert_eq!((p.partition_id, p.error_code), (0, 84), "v{version}");
                }
                other => panic!("{key:?} v{version} answered {other:.80?}"),
            }
            answered += 1;
        }
    }
    assert_eq!(answered, 6);
    cluster.shutdown().await;
}

/// ApiVersions v3+ carries the features (KIP-584) a client picks its protocols by. Kafka
/// 4.3.1's single node finalizes transaction.version 2 and metadata.version 30 (4.3-IV0),
/// with metadata.version 7..30 supported; the reference answers the same for those two and
/// finalizes nothing it does not implement (group.version, share.version, ...).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_finalizes_the_features_kafka_finalizes_that_the_broker_implements() {
    let cluster = common::cluster::start(1, None, &[]).await;
    let mut conn = common::cluster::connect(&cluster, 1).await;
    for version in [3, 4] {
        let ResponseKind::ApiVersions(r) = conn
            .call(
                ApiKey::ApiVersions,
                version,
                RequestKind::ApiVersions(ApiVersionsRequest::default()),
            )
            .await
        else {
            panic!("not ApiVersions")
        };
        let finalized: Vec<(String, i16, i16)> = r
            .finalized_features
            .iter()
            .map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level))
            .collect();
        assert_eq!(
            finalized,
            vec![
                ("metadata.version".to_string(), 30, 30),
                ("transaction.version".to_string(), 2, 2),
                ("group.version".to_string(), 1, 1),
            ],
            "v{version}"
        );
        let supported: Vec<(String, i16, i16)> = r
            .supported_features
            .iter()
            .map(|f| (f.name.to_string(), f.min_version, f.max_version))
            .collect();
        assert_eq!(supported, vec![("metadata.version".to_string(), 7, 30)]);
        assert!(
            r.finalized_features_epoch >= 0,
            "features valid only from epoch 0"
        );
    }
}
