//! The Jepsen-style queue checker on the in-process reference cluster of three brokers,
//! with faults injected from a fixed seed for about 20 s.
//!
//! The producers are idempotent (the default), so every anomaly the checker knows must be
//! absent: nothing acknowledged lost or written twice, no offset holding two values, no
//! producer's records reordered, no consumer going backwards or skipping. (Without
//! idempotence duplicates are expected under faults: `kafka-spec checker --idempotence
//! false` shows them on real Kafka.) With transactions, read_committed consumers must also
//! never see a record of an aborted transaction (G1a) or one before its commit was invoked
//! (precommitted-read).

use std::time::Duration;

use kafka_spec::checker::{self, WorkloadOptions, WorkloadReport};
use kafka_spec::target::reference_cluster::ReferenceClusterTarget;

const SEED: u64 = 20_261_202;
const SECONDS: u64 = 20;
/// Far fewer than a healthy run acknowledges (thousands): a run that sent almost nothing
/// proves nothing.
const MIN_ACKED: usize = 200;
/// Far fewer than a healthy transactional run ends (hundreds of each).
const MIN_COMMITTED: usize = 50;
const MIN_ABORTED: usize = 10;

/// One cluster at a time: the two runs in parallel on a 2-core machine starve each other's
/// brokers and clients of CPU.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_on_reference(transactions: bool) -> WorkloadReport {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The brokers' log with `RUST_LOG` (e.g. `info`), with the clients' librdkafka log from
    // `KAFKA_SPEC_CHECKER_DEBUG` (see the README's checker section).
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let target = ReferenceClusterTarget::start(3)
        .await
        .expect("a reference cluster of 3 brokers starts");
    let mut options = WorkloadOptions::new(SEED, Duration::from_secs(SECONDS));
    options.transactions = transactions;
    let result = checker::run(&target, &options).await;
    target.shutdown().await;
    let report = result.expect("the workload runs");
    println!("{report}");
    assert!(
        report.analysis.stats.acked >= MIN_ACKED,
        "only {} sends acknowledged:\n{report}",
        report.analysis.stats.acked
    );
    let undone = report
        .faults
        .iter()
        .filter(|f| f.contains("undone"))
        .count();
    assert!(
        undone >= 2,
        "the seeded schedule injected and undid {undone} faults:\n{report}"
    );
    assert!(report.drained, "the consumers did not drain:\n{report}");
    assert_eq!(report.analysis.total(), 0, "{report}");
    assert!(report.passed(), "{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_idempotence_the_reference_cluster_shows_no_anomaly_at_all() {
    let report = run_on_reference(false).await;
    assert_eq!(report.analysis.stats.committed, 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_transactions_read_committed_sees_no_aborted_or_uncommitted_record() {
    let report = run_on_reference(true).await;
    let stats = report.analysis.stats;
    assert!(
        stats.committed >= MIN_COMMITTED && stats.aborted >= MIN_ABORTED,
        "too few transactions ended ({} committed, {} aborted) to prove anything:\n{report}",
        stats.committed,
        stats.aborted
    );
}
