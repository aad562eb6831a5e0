//! Kafka's connection limits over TCP: stalled and half-sent frames cost little memory and
//! are closed after `connections.max.idle.ms`; `max.connections.per.ip` (and its overrides)
//! and `max.connections` close the connection over the limit at once while the broker keeps
//! serving the others; a long poll is not idleness. Figures are printed (run with
//! `--nocapture` to see them).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Conn;
use common::memory::rss_bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use reference::EmbeddedBroker;
use reference::config::BrokerConfig;
use reference::embedded::BrokerOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;
/// Long enough for 505 connections to be set up on a loaded 2-core machine (0.3 s idle, 0.6 s
/// seen under load) before the first of them is due to be closed.
const IDLE_MS: u64 = 2_000;

async fn broker_with(configs: &[(&str, &str)]) -> EmbeddedBroker {
    EmbeddedBroker::start_with(BrokerOptions {
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..BrokerOptions::default()
    })
    .await
    .expect("broker starts")
}

/// ApiVersions on `conn` answers with no error.
async fn api_versions(conn: &mut Conn) {
    let request = RequestKind::ApiVersions(ApiVersionsRequest::default());
    let ResponseKind::ApiVersions(r) = conn.call(ApiKey::ApiVersions, 3, request).await else {
        panic!("not ApiVersions")
    };
    assert_eq!(r.error_code, 0);
}

/// A fresh connection is served.
async fn served(bootstrap: &str) {
    api_versions(&mut Conn::connect(bootstrap).await).await;
}

/// Waits for the broker to close `stream`: a read of 0 bytes, or a reset (the broker closed
/// a socket with bytes it never read). `None` if it is still open after `deadline`.
async fn closed_by_broker(stream: &mut (impl AsyncReadExt + Unpin), deadline: Duration) -> bool {
    let mut buf = [0u8; 64];
    let started = Instant::now();
    while started.elapsed() < deadline {
        match tokio::time::timeout(deadline - started.elapsed(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// True if the broker still holds `stream` open (nothing to read, no close).
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

fn still_open_half(stream: &tokio::net::tcp::OwnedReadHalf) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// The memory-measuring tests run one at a time: RSS is the whole test process's.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_frames_hold_little_memory_and_are_closed_after_connections_max_idle_ms() {
    let _alone = MEASURING.lock().await;
    let idle = IDLE_MS.to_string();
    let broker = broker_with(&[("connections.max.idle.ms", &idle)]).await;
    let addr = broker.bootstrap().to_string();
    stall_frames_and_watch("one broker", &addr, std::slice::from_ref(&addr)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_three_broker_cluster_stalled_frames_are_closed_and_every_broker_serves() {
    let _alone = MEASURING.lock().await;
    let idle = IDLE_MS.to_string();
    let cluster = common::cluster::start(3, None, &[("connections.max.idle.ms", &idle)]).await;
    let addrs: Vec<String> = cluster
        .broker_ids()
        .iter()
        .map(|id| cluster.address(*id).expect("running").to_string())
        .collect();
    stall_frames_and_watch("broker 1 of 3", &addrs[0], &addrs).await;
    // The cluster still replicates: a topic on all three brokers is created and written.
    let mut conn = common::cluster::connect(&cluster, cluster.broker_ids()[0]).await;
    common::cluster::create_topic_with(&mut conn, "after-stall", 1, 3, &[]).await;
    cluster.shutdown().await;
}

/// 500 stalled half-frames and five stalled 100 MiB frames on `target`: RSS grows less than
/// 128 MiB, an honest client is served on each of `honest` while they are open, and every
/// one is closed after `connections.max.idle.ms` (and not before).
async fn stall_frames_and_watch(label: &str, target: &str, honest: &[String]) {
    // 32 MiB of each 100 MiB frame is sent: enough that holding all five would show in RSS
    // (160 MiB), as it did when the whole declared length was reserved and filled.
    let partial_body = Arc::new(vec![0x5a_u8; 32 * MIB]);
    let rss_before = rss_bytes();
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..500 {
        let mut stream = TcpStream::connect(target).await.expect("connect");
        // A 100-byte frame of which 5 bytes arrive.
        stream.write_all(&100i32.to_be_bytes()).await.unwrap();
        stream.write_all(&[0, 18, 0, 3, 0]).await.unwrap();
        stalled.push((stream, Instant::now()));
    }
    let (mut large, mut writers) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let stream = TcpStream::connect(target).await.expect("connect");
        let (reader, mut writer) = stream.into_split();
        let body = partial_body.clone();
        writers.push(tokio::spawn(async move {
            writer.write_all(&(100 * MIB as i32).to_be_bytes()).await?;
            writer.write_all(&body).await?;
            // Then silence, holding the connection open.
            Ok::<_, std::io::Error>(writer)
        }));
        large.push((reader, Instant::now()));
    }
    let opened_ms = started.elapsed().as_millis();
    // Two 100 MiB frames fit in the default 256 MiB queued.max.request.bytes: their writes
    // complete; the other three wait, unread, in the kernel.
    let two_read = tokio::time::timeout(Duration::from_secs(10), async {
        while writers.iter().filter(|w| w.is_finished()).count() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(two_read.is_ok(), "two large frames are read");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rss_held = rss_bytes();
    // Honest clients are served while all of them are open.
    for addr in honest {
        served(addr).await;
    }
    let served_ms = started.elapsed().as_millis();
    let open_now = stalled.iter().filter(|(s, _)| still_open(s)).count()
        + large.iter().filter(|(r, _)| still_open_half(r)).count();
    assert_eq!(
        open_now, 505,
        "stalled connections open when the clients were served"
    );
    let rss_peak = rss_bytes().max(rss_held);
    let grown =
        usize::try_from(rss_peak.saturating_sub(rss_before)).expect("RSS growth fits usize");
    println!(
        "{label}: RSS before {} MiB, with 500 half-frames and 5 stalled 100 MiB frames {} MiB \
         (+{} MiB); 505 connections opened in {opened_ms} ms, honest clients served at \
         {served_ms} ms",
        rss_before >> 20,
        rss_peak >> 20,
        grown / MIB
    );
    assert!(grown < 128 * MIB, "RSS grew by {} MiB", grown / MIB);
    let ((first, last), (first_large, last_large)) =
        tokio::join!(all_closed(stalled), all_closed(large));
    let (first, last) = (first.min(first_large), last.max(last_large));
    println!(
        "{label}: 505 stalled connections closed {} ms to {} ms after they were opened \
         (connections.max.idle.ms={IDLE_MS}); all closed {} ms after the start",
        first.as_millis(),
        last.as_millis(),
        started.elapsed().as_millis()
    );
    assert!(
        first >= Duration::from_millis(IDLE_MS * 9 / 10),
        "closed before connections.max.idle.ms: {first:?}"
    );
    for writer in writers {
        let _ = writer.await;
    }
    for addr in honest {
        served(addr).await;
    }
}

/// Waits until the broker has closed every one of `stalled` (at most 20 s each); the
/// shortest and longest time from opening to close.
async fn all_closed<S>(stalled: Vec<(S, Instant)>) -> (Duration, Duration)
where
    S: AsyncReadExt + Unpin + Send + 'static,
{
    let mut closing = tokio::task::JoinSet::new();
    for (mut stream, opened) in stalled {
        closing.spawn(async move {
            let closed = closed_by_broker(&mut stream, Duration::from_secs(20)).await;
            (closed, opened.elapsed())
        });
    }
    let mut after = Vec::new();
    while let Some(joined) = closing.join_next().await {
        let (closed, elapsed) = joined.unwrap();
        assert!(closed, "a stalled connection still open after 20 s");
        after.push(elapsed);
    }
    let first = after.iter().min().copied().unwrap_or_default();
    let last = after.iter().max().copied().unwrap_or_default();
    (first, last)
}

#[tokio::test]
async fn over_max_connections_per_ip_the_next_connection_is_closed_at_once() {
    let broker = broker_with(&[("max.connections.per.ip", "3")]).await;
    let addr = broker.bootstrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = Conn::connect(addr).await;
        api_versions(&mut conn).await;
        held.push(conn);
    }
    let refused = Instant::now();
    let mut extra = TcpStream::connect(addr)
        .await
        .expect("the kernel completes the handshake");
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "the 4th connection is closed at once: {read:?}"
    );
    println!(
        "4th connection from 127.0.0.1 closed {} µs after connecting (max.connections.per.ip=3)",
        refused.elapsed().as_micros()
    );
    // The connections it has are still served.
    for conn in &mut held {
        api_versions(conn).await;
    }
    // A closed connection gives its slot back.
    drop(held.pop());
    assert!(
        eventually_served(addr).await,
        "a slot freed by a close is reused"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_per_ip_override_wins_over_the_default() {
    let broker = broker_with(&[
        ("max.connections.per.ip", "0"),
        ("max.connections.per.ip.overrides", "127.0.0.1:1,10.1.2.3:5"),
    ])
    .await;
    let addr = broker.bootstrap();
    let mut first = Conn::connect(addr).await;
    api_versions(&mut first).await;
    let mut second = Conn::connect(addr).await;
    assert!(second.is_closed_by_broker().await, "over the override of 1");
    api_versions(&mut first).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn over_max_connections_the_next_connection_is_closed_at_once() {
    let broker = broker_with(&[("max.connections", "2")]).await;
    let addr = broker.bootstrap();
    let mut a = Conn::connect(addr).await;
    let mut b = Conn::connect(addr).await;
    api_versions(&mut a).await;
    api_versions(&mut b).await;
    let refused = Instant::now();
    let mut c = TcpStream::connect(addr).await.expect("connect");
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(2), c.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "the 3rd connection is closed: {read:?}"
    );
    println!(
        "3rd connection closed {} µs after connecting (max.connections=2)",
        refused.elapsed().as_micros()
    );
    api_versions(&mut a).await;
    api_versions(&mut b).await;
    drop(b);
    assert!(eventually_served(addr).await, "a freed slot is reused");
    broker.shutdown().await;
}

/// A new connection is served within 5 s (the broker notices a close asynchronously).
async fn eventually_served(addr: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let mut conn = Conn::connect(addr).await;
        let request = RequestKind::ApiVersions(ApiVersionsRequest::default());
        conn.send(ApiKey::ApiVersions, 3, request).await;
        let answered = tokio::time::timeout(Duration::from_secs(1), conn.read_frame()).await;
        if matches!(answered, Ok(Some(_))) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn an_idle_connection_is_closed_but_a_long_poll_is_not_idleness() {
    let broker = broker_with(&[("connections.max.idle.ms", "300")]).await;
    let addr = broker.bootstrap();
    let mut conn = Conn::connect(addr).await;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("polled")))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    let ResponseKind::CreateTopics(created) = conn
        .call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
        .await
    else {
        panic!("not CreateTopics")
    };
    assert_eq!(created.topics[0].error_code, 0);
    // A Fetch parked for 1 s, more than three times connections.max.idle.ms: the client
    // waits on the broker, so the connection is not idle and gets its answer.
    let polled = Instant::now();
    let fetch = FetchRequest::default()
        .with_max_wait_ms(1_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("polled")))
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let ResponseKind::Fetch(fetched) = conn
        .call(ApiKey::Fetch, 12, RequestKind::Fetch(fetch))
        .await
    else {
        panic!("not Fetch")
    };
    assert_eq!(fetched.responses[0].partitions[0].error_code, 0);
    assert!(polled.elapsed() >= Duration::from_millis(900));
    // Then nothing from the client: closed after about 300 ms.
    let quiet = Instant::now();
    assert!(conn.is_closed_by_broker().await);
    let after = quiet.elapsed();
    println!(
        "idle connection closed after {} ms (connections.max.idle.ms=300)",
        after.as_millis()
    );
    assert!(after >= Duration::from_millis(250), "{after:?}");
    served(addr).await;
    broker.shutdown().await;
}

#[test]
fn connection_configs_have_kafkas_names_defaults_and_checks() {
    let defaults = BrokerConfig::default();
    assert_eq!(defaults.connections_max_idle_ms, 600_000);
    assert_eq!(defaults.queued_max_request_bytes, 256 * MIB as i64);
    assert_eq!(defaults.max_connections, 4096);
    assert_eq!(defaults.max_connections_per_ip, i32::MAX);
    let config = BrokerConfig::from_pairs([
        ("connections.max.idle.ms", "-1"),
        ("max.connections", "10"),
        ("max.connections.per.ip", "2"),
        (
            "max.connections.per.ip.overrides",
            "127.0.0.1:5, [::1]:7,10.0.0.1:0",
        ),
        ("queued.max.request.bytes", "-1"),
    ])
    .unwrap();
    assert_eq!(config.connections_max_idle_ms, -1);
    assert_eq!(
        (config.max_connections, config.max_connections_per_ip),
        (10, 2)
    );
    assert_eq!(config.queued_max_request_bytes, -1);
    let overrides = &config.max_connections_per_ip_overrides;
    assert_eq!(overrides[&"127.0.0.1".parse().unwrap()], 5);
    assert_eq!(overrides[&"::1".parse().unwrap()], 7);
    assert_eq!(overrides[&"10.0.0.1".parse().unwrap()], 0);
    // The default budget follows a socket.request.max.bytes larger than it.
    let big = BrokerConfig::from_pairs([("socket.request.max.bytes", "536870912")]).unwrap();
    assert_eq!(big.queued_max_request_bytes, 536_870_912);
    for bad in [
        vec![("queued.max.request.bytes", "1048576")],
        vec![("max.connections.per.ip", "0")],
        vec![("max.connections.per.ip.overrides", "127.0.0.1")],
        vec![("max.connections.per.ip.overrides", "not a host:3")],
        vec![("max.connections.per.ip.overrides", "127.0.0.1:-1")],
        vec![("connections.max.idle.ms", "0")],
        vec![("max.connections", "-1")],
    ] {
        assert!(
            BrokerConfig::from_pairs(bad.clone()).is_err(),
            "{bad:?} accepted"
        );
    }
}
