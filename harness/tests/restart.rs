//! Durability across a restart, with a real client: 10,000 keyed messages produced with
//! acks=all, the broker stopped and started again on the same data directory, and every
//! message read back with the same offset, key and value, in order.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use reference::EmbeddedBroker;
use reference::embedded::BrokerOptions;

const MESSAGES: usize = 10_000;
const PARTITIONS: i32 = 3;
const TOPIC: &str = "orders";

/// (partition, offset) -> (key, value)
type Seen = BTreeMap<(i32, i64), (String, String)>;

async fn start(dir: &std::path::Path) -> EmbeddedBroker {
    EmbeddedBroker::start_with(BrokerOptions {
        data_dir: Some(dir.to_path_buf()),
        ..Default::default()
    })
    .await
    .expect("broker starts")
}

async fn produce_all(bootstrap: &str) -> Seen {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin");
    let created = admin
        .create_topics(
            &[NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topics");
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let sends = (0..MESSAGES).map(|i| {
        let producer = producer.clone();
        async move {
            let (key, value) = (format!("customer-{}", i % 97), format!("order-{i}"));
            let record = FutureRecord::to(TOPIC).key(&key).payload(&value);
            let delivery = producer
                .send(record, Duration::from_secs(30))
                .await
                .expect("delivered");
            ((delivery.partition, delivery.offset), (key, value))
        }
    });
    futures::future::join_all(sends).await.into_iter().collect()
}

fn consume_all(bootstrap: &str) -> Seen {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "restart-check")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(TOPIC, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let mut seen = Seen::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < MESSAGES && std::time::Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let m = message.expect("consume");
            let text =
                |b: Option<&[u8]>| String::from_utf8(b.unwrap_or_default().to_vec()).unwrap();
            let previous = seen.insert(
                (m.partition(), m.offset()),
                (text(m.key()), text(m.payload())),
            );
            assert!(
                previous.is_none(),
                "offset {} of partition {} seen twice",
                m.offset(),
                m.partition()
            );
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_acked_messages_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let produced = produce_all(broker.bootstrap()).await;
    assert_eq!(produced.len(), MESSAGES, "every send got its own offset");
    broker.shutdown().await;

    let broker = start(dir.path()).await;
    let bootstrap = broker.bootstrap().to_string();
    let consumed = tokio::task::spawn_blocking(move || consume_all(&bootstrap))
        .await
        .unwrap();
    assert_eq!(consumed.len(), MESSAGES);
    // Same offsets, keys and values; BTreeMap order is partition then offset, so equality
    // also shows each partition reads back in the order it was written.
    assert_eq!(consumed, produced);
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = consumed
            .keys()
            .filter(|(part, _)| *part == p)
            .map(|(_, o)| *o)
            .collect();
        assert!(
            offsets.iter().enumerate().all(|(i, o)| *o == i as i64),
            "partition {p} offsets are dense from 0"
        );
    }
    broker.shutdown().await;
}
