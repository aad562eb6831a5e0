//! The accept loop survives running out of file descriptors (EMFILE): a connection that
//! arrives while the process has none left is accepted with the broker's reserved
//! descriptor and closed at once (the client sees the close, it does not hang in the
//! backlog), and once descriptors are free again new clients are served.
//!
//! Its own test binary: it lowers the whole process's descriptor limit (with util-linux's
//! `prlimit`), which would break any test running beside it.

mod common;

use std::time::{Duration, Instant};

use common::Conn;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestKind, ResponseKind};
use reference::EmbeddedBroker;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const EMFILE: i32 = 24;

async fn served(addr: &str) {
    let mut conn = Conn::connect(addr).await;
    let request = RequestKind::ApiVersions(ApiVersionsRequest::default());
    let ResponseKind::ApiVersions(r) = conn.call(ApiKey::ApiVersions, 3, request).await else {
        panic!("not ApiVersions")
    };
    assert_eq!(r.error_code, 0);
}

/// (soft, hard) "Max open files" of this process.
fn nofile_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Sets this process's soft descriptor limit; false (with the reason printed) if it cannot.
fn set_soft_nofile(soft: u64, hard: u64) -> bool {
    let pid = std::process::id().to_string();
    let set = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={soft}:{hard}")])
        .status();
    match set {
        Ok(status) if status.success() && nofile_limits().0 == soft => true,
        other => {
            println!("SKIPPED: cannot lower RLIMIT_NOFILE with prlimit: {other:?}");
            false
        }
    }
}

/// Opens `/dev/null` until the process is out of descriptors; false if it never is.
fn fill(fillers: &mut Vec<std::fs::File>) -> bool {
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) if fillers.len() < 1_000 => fillers.push(file),
            Ok(_) => return false,
            Err(e) => return e.raw_os_error() == Some(EMFILE),
        }
    }
}

#[tokio::test]
async fn connections_arriving_without_descriptors_are_closed_and_the_broker_recovers() {
    let broker = EmbeddedBroker::start().await.expect("broker starts");
    let addr = broker.bootstrap().to_string();
    served(&addr).await;
    let (soft, hard) = nofile_limits();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    if !set_soft_nofile(open + 32, hard) {
        return;
    }
    // Take every descriptor left, again after the broker has closed its side of the
    // connection above (it does so on its own time).
    let mut fillers = Vec::new();
    for _ in 0..2 {
        assert!(
            fill(&mut fillers),
            "the process reached its descriptor limit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(fill(&mut fillers));

    // Each client gets the one descriptor freed for it; the broker has none to accept with.
    let mut closed_after = Vec::new();
    for _ in 0..5 {
        drop(fillers.pop());
        let connected = Instant::now();
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a connection arriving at EMFILE is closed, not left hanging: {read:?}"
        );
        closed_after.push(connected.elapsed());
        drop(stream);
        fillers.push(std::fs::File::open("/dev/null").expect("the client's descriptor is free"));
    }
    println!(
        "at EMFILE, 5 connections closed by the broker after {:?}",
        closed_after
            .iter()
            .map(|d| format!("{} ms", d.as_millis()))
            .collect::<Vec<_>>()
    );

    // Descriptors come back: new clients are served.
    drop(fillers);
    assert!(set_soft_nofile(soft, hard), "limit restored");
    let recovered = Instant::now();
    served(&addr).await;
    println!(
        "served again {} ms after descriptors were freed",
        recovered.elapsed().as_millis()
    );
    broker.shutdown().await;
}
