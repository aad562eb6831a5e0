//! Committed offsets survive a crash: the `kafka-spec serve` process is killed with SIGKILL
//! right after a consumer group commits, started again on the same data directory, and a new
//! consumer in the same group resumes exactly at the committed offsets.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const TOPIC: &str = "orders";
const GROUP: &str = "order_processing_group";
const PARTITIONS: i32 = 3;
const PER_PARTITION: i64 = 20;
/// What the group commits before the crash: the next offset to read, per partition.
const COMMITTED: [i64; 3] = [4, 16, 0];
const DEADLINE: Duration = Duration::from_secs(30);

/// Starts `kafka-spec serve` on `dir` and returns it with its bootstrap address.
fn serve(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-spec"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir)
        .args(["--config", "group.initial.rebalance.delay.ms=0"])
        .args(["--config", "group.min.session.timeout.ms=1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kafka-spec serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a bootstrap line");
    let bootstrap = line
        .trim()
        .strip_prefix("bootstrap: ")
        .expect("`bootstrap: ` line")
        .to_string();
    (child, bootstrap)
}

fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "2000")
        .set("heartbeat.interval.ms", "300")
        .create()
        .expect("consumer")
}

fn produce(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let created = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .create()
        .unwrap();
    for p in 0..PARTITIONS {
        for i in 0..PER_PARTITION {
            let value = format!("p{p}-m{i}");
            producer
                .send(BaseRecord::<(), _>::to(TOPIC).partition(p).payload(&value))
                .unwrap();
        }
    }
    producer.flush(DEADLINE).unwrap();
}

/// Polls until the consumer owns every partition and has read `wanted` messages.
fn poll_until_assigned(consumer: &BaseConsumer) -> Vec<(i32, i64)> {
    let start = Instant::now();
    let mut first_seen = Vec::new();
    while start.elapsed() < DEADLINE {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100))
            && !first_seen.iter().any(|(p, _)| *p == m.partition())
        {
            first_seen.push((m.partition(), m.offset()));
        }
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        if assigned == PARTITIONS as usize && first_seen.len() == PARTITIONS as usize {
            first_seen.sort();
            return first_seen;
        }
    }
    panic!("no full assignment within {DEADLINE:?}: first offsets seen {first_seen:?}");
}

#[test]
fn a_group_resumes_at_its_committed_offsets_after_the_broker_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut broker, bootstrap) = serve(dir.path());
    produce(&bootstrap);

    let first = consumer(&bootstrap);
    first.subscribe(&[TOPIC]).unwrap();
    let seen = poll_until_assigned(&first);
    assert_eq!(
        seen,
        vec![(0, 0), (1, 0), (2, 0)],
        "a new group starts at the earliest offsets"
    );
    let mut commit = TopicPartitionList::new();
    for (p, offset) in COMMITTED.iter().enumerate() {
        commit
            .add_partition_offset(TOPIC, p as i32, Offset::Offset(*offset))
            .unwrap();
    }
    first
        .commit(&commit, CommitMode::Sync)
        .expect("commit acknowledged");

    broker.kill().expect("SIGKILL");
    broker.wait().unwrap();
    // The first consumer cannot reach the restarted broker (a new port): it is simply gone,
    // like a crashed client. Closing it would wait on the dead broker, so it is left behind.
    std::thread::spawn(move || drop(first));

    let (mut broker, bootstrap) = serve(dir.path());
    let second = consumer(&bootstrap);
    let committed = second.committed_offsets(
        {
            let mut tpl = TopicPartitionList::new();
            for p in 0..PARTITIONS {
                tpl.add_partition(TOPIC, p);
            }
            tpl
        },
        DEADLINE,
    );
    let committed: Vec<Offset> = committed
        .unwrap()
        .elements()
        .iter()
        .map(|e| e.offset())
        .collect();
    assert_eq!(
        committed,
        vec![Offset::Offset(4), Offset::Offset(16), Offset::Offset(0)]
    );
    second.subscribe(&[TOPIC]).unwrap();
    let resumed = poll_until_assigned(&second);
    assert_eq!(
        resumed,
        vec![(0, 4), (1, 16), (2, 0)],
        "resumes exactly at the committed offsets"
    );
    drop(second);
    broker.kill().unwrap();
    broker.wait().unwrap();
}
