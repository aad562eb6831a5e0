//! A three-broker cluster driven by a client no one here wrote: kcat (librdkafka).
//!
//! `kcat -L` must list the three brokers and a leader for every partition; records produced
//! with acks=all before and after the partition leader is stopped (through the cluster API)
//! must all come back to `kcat -C`, each exactly once, at consecutive offsets and in the
//! order they were sent.
//!
//! kcat is Debian's `kcat` package (librdkafka 2.0.2). Without it on PATH the test fails
//! when `CI` is set and is skipped, with the reason printed, otherwise. Every kcat run has a
//! deadline and is killed when it passes.

mod common;

use common::cluster::{connect, create_topic_with};
use common::kcat;

const TOPIC: &str = "kcat-failover";
/// Messages produced before the leader stops, and again after.
const N: usize = 200;

/// `kcat -L` for the topic: (broker ids, [(partition, leader)]) as kcat printed them.
async fn kcat_metadata(bootstrap: &str) -> (Vec<i32>, Vec<(i32, i32)>, String) {
    let run = kcat::run(&["-L", "-b", bootstrap, "-t", TOPIC, "-m", "10"], "").await;
    assert!(run.success, "kcat -L failed: {}", run.stderr);
    let mut brokers = Vec::new();
    let mut partitions = Vec::new();
    for line in run.stdout.lines().map(str::trim) {
        // "broker 2 at 127.0.0.1:40123 (controller)"
        let broker = line
            .strip_prefix("broker ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|s| s.parse::<i32>().ok());
        brokers.extend(broker);
        // "partition 0, leader 2, replicas: 2,3,1, isrs: 2,3,1"
        if let Some(rest) = line.strip_prefix("partition ") {
            let mut fields = rest.split(", ");
            let partition = fields.next().and_then(|s| s.parse().ok());
            let leader = fields
                .next()
                .and_then(|s| s.strip_prefix("leader "))
                .and_then(|s| s.parse().ok());
            if let (Some(p), Some(l)) = (partition, leader) {
                partitions.push((p, l));
            }
        }
    }
    brokers.sort();
    (brokers, partitions, run.stdout)
}

/// kcat in `mode` (`-P`, `-C`) on partition 0 of [`TOPIC`], with `more` arguments and
/// `stdin`; asserts that it succeeded.
async fn kcat_on_partition0(mode: &str, bootstrap: &str, more: &[&str], stdin: &str) -> kcat::Run {
    let mut args = vec![mode, "-b", bootstrap, "-t", TOPIC, "-p", "0"];
    args.extend_from_slice(more);
    let run = kcat::run(&args, stdin).await;
    assert!(run.success, "kcat {mode} failed: {}", run.stderr);
    run
}

/// Produces `values` (one per line) with acks=all to partition 0.
async fn kcat_produce(bootstrap: &str, values: &[String]) {
    let mut input = values.join("\n");
    input.push('\n');
    let run = kcat_on_partition0(
        "-P",
        bootstrap,
        &[
            "-X",
            "acks=all",
            "-X",
            "enable.idempotence=false",
            "-X",
            "message.timeout.ms=30000",
        ],
        &input,
    )
    .await;
    assert!(
        !run.stderr.contains("Delivery failed"),
        "kcat reported failed deliveries: {}",
        run.stderr
    );
}

/// Every record of partition 0 from the beginning: (offset, value).
async fn kcat_consume(bootstrap: &str) -> Vec<(i64, String)> {
    let run = kcat_on_partition0(
        "-C",
        bootstrap,
        &["-o", "beginning", "-e", "-f", "%o %s\\n"],
        "",
    )
    .await;
    run.stdout
        .lines()
        .map(|line| {
            let (offset, value) = line.split_once(' ').expect("`offset value` lines");
            (offset.parse().expect("an offset"), value.to_string())
        })
        .collect()
}

fn values(from: usize, count: usize) -> Vec<String> {
    (from..from + count)
        .map(|i| format!("value-{i:05}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_produces_and_consumes_across_the_loss_of_the_leader() {
    if !kcat::available() {
        return;
    }
    let mut cluster = common::cluster::start(3, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, TOPIC, 1, 3, &[("min.insync.replicas", "2")]).await;

    let bootstrap = cluster.bootstrap();
    let (brokers, partitions, listing) = kcat_metadata(&bootstrap).await;
    eprintln!("kcat -L printed:\n{listing}");
    assert_eq!(brokers, vec![1, 2, 3], "kcat -L lists three brokers");
    assert_eq!(partitions.len(), 1, "one partition listed: {listing}");
    let (_, leader) = partitions[0];
    assert!(
        (1..=3).contains(&leader),
        "partition 0 has a leader: {listing}"
    );

    kcat_produce(&bootstrap, &values(0, N)).await;

    cluster.stop(leader).await;
    let bootstrap = cluster.bootstrap();
    kcat_produce(&bootstrap, &values(N, N)).await;

    let (brokers, partitions, listing) = kcat_metadata(&bootstrap).await;
    assert!(
        !brokers.contains(&leader),
        "the stopped broker is gone: {listing}"
    );
    assert!(
        partitions.iter().all(|(_, l)| *l != leader && *l > 0),
        "a new leader: {listing}"
    );

    let consumed = kcat_consume(&bootstrap).await;
    let expected: Vec<(i64, String)> = values(0, 2 * N)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as i64, v))
        .collect();
    assert_eq!(consumed.len(), expected.len(), "every value once");
    assert_eq!(consumed, expected, "one value per offset, in order");
    cluster.shutdown().await;
}
