//! The config APIs over TCP, on a cluster of one and of three: IncrementalAlterConfigs (v0,
//! v1) and AlterConfigs (v0-v2) of topics and brokers, with their effect at once (a produce
//! that `max.message.bytes` now refuses), DescribeConfigs (v1-v4)
//! of topics, brokers and broker loggers with sources and synonyms, and Kafka's error codes
//! and messages, nothing stored changed on an error.

mod common;

use common::Conn;
use common::cluster::{batch, connect, create_topic_with, produce, start};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;

const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const MESSAGE_TOO_LARGE: i16 = 10;

/// A resource, the config set on it, and the message Kafka refuses it with.
type Refusal = (
    (i8, &'static str),
    (&'static str, &'static str),
    &'static str,
);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// IncrementalAlterConfigs of one resource: (error code, message).
async fn incremental(
    conn: &mut Conn,
    version: i16,
    (resource_type, name): (i8, &str),
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = ops
        .iter()
        .map(|(n, op, v)| {
            AlterableConfig::default()
                .with_name(s(n))
                .with_config_operation(*op)
                .with_value(v.map(s))
        })
        .collect();
    let req = IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configs(configs),
        ]);
    let ResponseKind::IncrementalAlterConfigs(r) = conn
        .call(
            ApiKey::IncrementalAlterConfigs,
            version,
            RequestKind::IncrementalAlterConfigs(req),
        )
        .await
    else {
        panic!("not IncrementalAlterConfigs")
    };
    assert_eq!(r.responses.len(), 1);
    let answer = &r.responses[0];
    assert_eq!(
        (answer.resource_type, answer.resource_name.as_str()),
        (resource_type, name)
    );
    (
        answer.error_code,
        answer.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// AlterConfigs of one resource: (error code, message).
async fn legacy(
    conn: &mut Conn,
    version: i16,
    (resource_type, name): (i8, &str),
    configs: &[(&str, &str)],
) -> (i16, Option<String>) {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = configs
        .iter()
        .map(|(n, v)| {
            AlterableConfig::default()
                .with_name(s(n))
                .with_value(Some(s(v)))
        })
        .collect();
    let req = AlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(configs),
    ]);
    let ResponseKind::AlterConfigs(r) = conn
        .call(
            ApiKey::AlterConfigs,
            version,
            RequestKind::AlterConfigs(req),
        )
        .await
    else {
        panic!("not AlterConfigs")
    };
    let answer = &r.responses[0];
    (
        answer.error_code,
        answer.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// One described config: value, source, read-only, synonyms as (name, value, source).
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    value: Option<String>,
    source: i8,
    read_only: bool,
    config_type: i8,
    synonyms: Vec<(String, Option<String>, i8)>,
    documented: bool,
}

/// DescribeConfigs of one resource with synonyms and documentation: (error code, message,
/// entries by name).
async fn describe(
    conn: &mut Conn,
    version: i16,
    (resource_type, name): (i8, &str),
) -> (i16, Option<String>, Vec<(String, Entry)>) {
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(version >= 3)
        .with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configuration_keys(None),
        ]);
    let ResponseKind::DescribeConfigs(r) = conn
        .call(
            ApiKey::DescribeConfigs,
            version,
            RequestKind::DescribeConfigs(req),
        )
        .await
    else {
        panic!("not DescribeConfigs")
    };
    let result = &r.results[0];
    let entries = result
        .configs
        .iter()
        .map(|c| {
            let entry = Entry {
                value: c.value.as_ref().map(|v| v.to_string()),
                source: c.config_source,
                read_only: c.read_only,
                config_type: c.config_type,
                synonyms: c
                    .synonyms
                    .iter()
                    .map(|y| {
                        (
                            y.name.to_string(),
                            y.value.as_ref().map(|v| v.to_string()),
                            y.source,
                        )
                    })
                    .collect(),
                documented: c.documentation.as_ref().is_some_and(|d| !d.is_empty()),
            };
            (c.name.to_string(), entry)
        })
        .collect();
    (
        result.error_code,
        result.error_message.as_ref().map(|m| m.to_string()),
        entries,
    )
}

fn get(entries: &[(String, Entry)], name: &str) -> Entry {
    entries
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} not described"))
        .1
        .clone()
}

fn syn(name: &str, value: &str, source: i8) -> (String, Option<String>, i8) {
    (name.to_string(), Some(value.to_string()), source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs_change_at_once_and_errors_change_nothing() {
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "orders", 1, 1, &[]).await;
    let orders = (TOPIC, "orders");
    for version in [0, 1] {
        let ops = [
            ("retention.ms", SET, Some("1000")),
            ("segment.bytes", SET, Some("2000000")),
        ];
        assert_eq!(
            incremental(&mut conn, version, orders, &ops, false).await,
            (0, None)
        );
    }
    for version in 1..=4 {
        let (code, _, entries) = describe(&mut conn, version, orders).await;
        assert_eq!(code, 0);
        let segment = get(&entries, "segment.bytes");
        assert_eq!(segment.value.as_deref(), Some("2000000"));
        assert_eq!(segment.source, 1, "TOPIC_CONFIG (DYNAMIC_TOPIC_CONFIG)");
        assert_eq!(
            segment.synonyms,
            [
                syn("segment.bytes", "2000000", 1),
                syn("log.segment.bytes", "1073741824", 5)
            ]
        );
        assert_eq!(get(&entries, "retention.ms").synonyms.len(), 1);
        assert!(get(&entries, "segment.ms").synonyms.is_empty());
        assert_eq!(segment.config_type, if version >= 3 { 3 } else { 0 });
        assert_eq!(segment.documented, version >= 3);
    }
    // Errors: Kafka's codes and messages, nothing stored changed.
    let cases: [(&str, i8, Option<&str>, i16, &str); 5] = [
        (
            "no.such.config",
            SET,
            Some("1"),
            INVALID_CONFIG,
            "Unknown topic config name: no.such.config",
        ),
        (
            "retention.ms",
            SET,
            Some("abc"),
            INVALID_CONFIG,
            "Invalid value abc for configuration retention.ms: Not a number of type LONG",
        ),
        (
            "segment.bytes",
            SET,
            Some("10"),
            INVALID_CONFIG,
            "Invalid value 10 for configuration segment.bytes: Value must be at least 1048576",
        ),
        (
            "retention.ms",
            APPEND,
            Some("5"),
            INVALID_CONFIG,
            "Can't APPEND to key retention.ms because its type is not LIST.",
        ),
        (
            "retention.ms",
            SET,
            None,
            INVALID_REQUEST,
            "Null value not supported for : retention.ms",
        ),
    ];
    for (name, op, value, code, message) in cases {
        let ops = [("retention.ms", SET, Some("7")), (name, op, value)];
        let ops = if name == "retention.ms" {
            &ops[1..]
        } else {
            &ops[..]
        };
        let answer = incremental(&mut conn, 1, orders, ops, false).await;
        assert_eq!(answer, (code, Some(message.to_string())), "{name}");
    }
    let missing = (TOPIC, "missing");
    let answer = incremental(
        &mut conn,
        1,
        missing,
        &[("retention.ms", SET, Some("1"))],
        false,
    );
    assert_eq!(
        answer.await,
        (
            UNKNOWN_TOPIC_OR_PARTITION,
            Some("The topic 'missing' does not exist.".into())
        )
    );
    // validate_only checks and keeps nothing.
    let ops = [("retention.ms", SET, Some("99"))];
    assert_eq!(
        incremental(&mut conn, 1, orders, &ops, true).await,
        (0, None)
    );
    let (_, _, entries) = describe(&mut conn, 4, orders).await;
    assert_eq!(get(&entries, "retention.ms").value.as_deref(), Some("1000"));
    let (code, message, entries) = describe(&mut conn, 4, missing).await;
    // Kafka sets only the code: its generated default message, "".
    assert_eq!(
        (code, message, entries.len()),
        (UNKNOWN_TOPIC_OR_PARTITION, Some(String::new()), 0)
    );

    // Taking effect at once: a produce above max.message.bytes is refused.
    assert_eq!(
        produce(&mut conn, "orders", -1, batch(0, 1, |_| 1)).await.0,
        0
    );
    let ops = [("max.message.bytes", SET, Some("60"))];
    assert_eq!(
        incremental(&mut conn, 1, orders, &ops, false).await,
        (0, None)
    );
    let (code, _) = produce(&mut conn, "orders", -1, batch(1, 5, |_| 1)).await;
    assert_eq!(code, MESSAGE_TOO_LARGE);
    // AlterConfigs replaces everything the topic set: max.message.bytes goes.
    for version in 0..=2 {
        let answer = legacy(&mut conn, version, orders, &[("retention.ms", "5000")]).await;
        assert_eq!(answer, (0, None), "v{version}");
    }
    let (_, _, entries) = describe(&mut conn, 4, orders).await;
    assert_eq!(get(&entries, "max.message.bytes").source, 5);
    assert_eq!(get(&entries, "retention.ms").value.as_deref(), Some("5000"));
    assert_eq!(
        produce(&mut conn, "orders", -1, batch(1, 5, |_| 1)).await.0,
        0
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_broker_configs_per_broker_and_cluster_wide() {
    let cluster = start(1, None, &[("num.partitions", "1")]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "payments", 1, 1, &[]).await;
    let (code, _, defaults) = describe(&mut conn, 4, (BROKER, "")).await;
    assert_eq!(code, 0);
    assert_eq!(
        defaults.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["min.insync.replicas"],
        "as Kafka 4.x formats its storage"
    );
    let ops = [("log.retention.ms", SET, Some("60000"))];
    assert_eq!(
        incremental(&mut conn, 0, (BROKER, "1"), &ops, false).await,
        (0, None)
    );
    let ops = [
        ("log.retention.ms", SET, Some("120000")),
        ("message.max.bytes", SET, Some("70")),
    ];
    assert_eq!(
        incremental(&mut conn, 1, (BROKER, ""), &ops, false).await,
        (0, None)
    );
    for version in 1..=4 {
        let (code, _, entries) = describe(&mut conn, version, (BROKER, "1")).await;
        assert_eq!(code, 0);
        let retention = get(&entries, "log.retention.ms");
        assert_eq!(
            (retention.value.as_deref(), retention.source),
            (Some("60000"), 2)
        );
        assert_eq!(
            retention.synonyms,
            [
                syn("log.retention.ms", "60000", 2),
                syn("log.retention.ms", "120000", 3),
                syn("log.retention.hours", "168", 5)
            ]
        );
        assert!(!retention.read_only);
        let node_id = get(&entries, "node.id");
        assert_eq!((node_id.value.as_deref(), node_id.source), (Some("1"), 4));
        assert!(node_id.read_only);
        assert_eq!(
            get(&entries, "num.partitions").source,
            4,
            "STATIC_BROKER_CONFIG"
        );
        assert_eq!(get(&entries, "log.retention.minutes").value, None);
    }
    // The topic follows: retention from this broker's dynamic config, max.message.bytes from
    // the cluster's, and a produce above it is refused at once.
    let (_, _, topic) = describe(&mut conn, 4, (TOPIC, "payments")).await;
    assert_eq!(get(&topic, "retention.ms").value.as_deref(), Some("60000"));
    assert_eq!(get(&topic, "max.message.bytes").source, 3);
    let (code, _) = produce(&mut conn, "payments", -1, batch(0, 5, |_| 1)).await;
    assert_eq!(code, MESSAGE_TOO_LARGE);
    let ops = [
        ("message.max.bytes", DELETE, None),
        ("min.insync.replicas", SET, Some("2")),
    ];
    assert_eq!(
        incremental(&mut conn, 1, (BROKER, ""), &ops, false).await,
        (0, None)
    );
    // The cluster's min.insync.replicas reaches the controller's record of the topic.
    let (_, _, topic) = describe(&mut conn, 4, (TOPIC, "payments")).await;
    let min_isr = get(&topic, "min.insync.replicas");
    assert_eq!((min_isr.value.as_deref(), min_isr.source), (Some("2"), 3));
    let ops = [("min.insync.replicas", SET, Some("1"))];
    assert_eq!(
        incremental(&mut conn, 1, (BROKER, ""), &ops, false).await,
        (0, None)
    );
    assert_eq!(
        produce(&mut conn, "payments", -1, batch(0, 5, |_| 1))
            .await
            .0,
        0
    );

    // Kafka's refusals, nothing stored changed.
    let refusals: [Refusal; 5] = [
        (
            (BROKER, "1"),
            ("node.id", "5"),
            "Cannot update these configs dynamically: [node.id]",
        ),
        (
            (BROKER, "2"),
            ("log.retention.ms", "1"),
            "Unexpected broker id, expected 1, but received 2",
        ),
        (
            (BROKER, "x"),
            ("log.retention.ms", "1"),
            "Node id must be an integer, but it is: x",
        ),
        (
            (BROKER, "1"),
            ("log.retention.ms", "abc"),
            "Invalid value abc for configuration log.retention.ms: Not a number of type LONG",
        ),
        (
            (BROKER, ""),
            ("min.insync.replicas", "0"),
            "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1",
        ),
    ];
    for (resource, (name, value), message) in refusals {
        let ops = [(name, SET, Some(value))];
        let answer = incremental(&mut conn, 1, resource, &ops, false).await;
        assert_eq!(
            answer,
            (INVALID_REQUEST, Some(message.to_string())),
            "{name}"
        );
    }
    let answer = legacy(&mut conn, 2, (BROKER, "1"), &[("num.partitions", "3")]).await;
    assert_eq!(answer.0, INVALID_REQUEST);
    let (_, _, entries) = describe(&mut conn, 4, (BROKER, "1")).await;
    assert_eq!(
        get(&entries, "log.retention.ms").value.as_deref(),
        Some("60000")
    );
    // AlterConfigs replaces the broker's dynamic configs: log.retention.ms goes back to the
    // cluster's.
    for version in 0..=2 {
        let answer = legacy(
            &mut conn,
            version,
            (BROKER, "1"),
            &[("log.segment.bytes", "2000000")],
        );
        assert_eq!(answer.await, (0, None), "v{version}");
    }
    let (_, _, entries) = describe(&mut conn, 4, (BROKER, "1")).await;
    assert_eq!(get(&entries, "log.retention.ms").source, 3);
    assert_eq!(get(&entries, "log.segment.bytes").source, 2);
    // Loggers.
    let (code, _, loggers) = describe(&mut conn, 4, (BROKER_LOGGER, "1")).await;
    assert_eq!(code, 0);
    assert_eq!(get(&loggers, "root").source, 6);
    let (code, message, _) = describe(&mut conn, 4, (BROKER_LOGGER, "")).await;
    assert_eq!(
        (code, message.as_deref()),
        (INVALID_REQUEST, Some("Broker id must not be empty"))
    );
    let ops = [("root", SET, Some("DEBUG"))];
    let (code, _) = incremental(&mut conn, 1, (BROKER_LOGGER, "1"), &ops, false).await;
    assert_eq!(code, INVALID_REQUEST);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_broker_of_a_cluster_alters_and_each_describes_itself() {
    let cluster = start(3, None, &[]).await;
    let mut one = connect(&cluster, 1).await;
    let mut three = connect(&cluster, 3).await;
    create_topic_with(&mut one, "orders", 2, 3, &[]).await;
    let ops = [("retention.ms", SET, Some("3600000"))];
    assert_eq!(
        incremental(&mut three, 1, (TOPIC, "orders"), &ops, false).await,
        (0, None)
    );
    let (_, _, entries) = describe(&mut one, 4, (TOPIC, "orders")).await;
    assert_eq!(
        get(&entries, "retention.ms").value.as_deref(),
        Some("3600000")
    );
    // Each broker's own configs go to that broker; the cluster's to any.
    let ops = [("log.retention.ms", SET, Some("60000"))];
    assert_eq!(
        incremental(&mut three, 1, (BROKER, "3"), &ops, false).await,
        (0, None)
    );
    let (code, message, _) = describe(&mut one, 4, (BROKER, "3")).await;
    assert_eq!(
        (code, message.as_deref()),
        (
            INVALID_REQUEST,
            Some("Unexpected broker id, expected 1 or empty string, but received 3")
        )
    );
    let (_, _, on_three) = describe(&mut three, 4, (BROKER, "3")).await;
    assert_eq!(get(&on_three, "log.retention.ms").source, 2);
    let (_, _, on_one) = describe(&mut one, 4, (BROKER, "1")).await;
    assert_eq!(get(&on_one, "log.retention.ms").value, None);
    let ops = [("unclean.leader.election.enable", SET, Some("true"))];
    assert_eq!(
        incremental(&mut one, 1, (BROKER, ""), &ops, false).await,
        (0, None)
    );
    let mut two = connect(&cluster, 2).await;
    let (_, _, topic) = describe(&mut two, 4, (TOPIC, "orders")).await;
    let unclean = get(&topic, "unclean.leader.election.enable");
    assert_eq!(
        (unclean.value.as_deref(), unclean.source),
        (Some("true"), 3)
    );
    cluster.shutdown().await;
}
