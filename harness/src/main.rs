//! `kafka-spec`: serve the reference broker, check any Kafka against the spec, compare two
//! targets, record real Kafka's traces.
//!
//! - `kafka-spec serve [--port 9092] [--brokers N] [--data-dir DIR] [--keep]
//!   [--config key=value]…` runs the reference broker (or a cluster of N brokers on ports
//!   `port`, `port+1`, …) until Ctrl-C or SIGTERM, printing `bootstrap: 127.0.0.1:<port>[,…]`
//!   once it accepts connections.
//! - `kafka-spec check [--target T | --bootstrap host:port] [--capability NAME]…
//!   [--features DIR] [--name TEXT] [--traces] [--junit FILE]` runs every feature against one
//!   target (default: the embedded 3-broker reference cluster, `reference:3`), prints the
//!   conformance table and `N passed, N failed, N skipped`, and exits 1 if anything failed.
//! - `kafka-spec diff --a T --b T [--b T]… [--report FILE]` runs every feature on A, then on
//!   each B, and prints per scenario same / differs (with the first differing observation) /
//!   skipped (with the reason); exits 1 on any difference not accepted in
//!   `known-differences.txt` and on any failure. `--report` writes the conformance report.
//! - `kafka-spec record [--target kafka-local] [--missing] [--name TEXT]` records real
//!   Kafka's traces under `fixtures/traces/kafka-<version>/`.
//! - `kafka-spec checker [--target T | --bootstrap host:port] [--seconds 60] [--seed N]
//!   [--producers 2] [--consumers 2] [--idempotence true|false] [--transactions]
//!   [--subscribe] [--no-faults]` runs the Jepsen-style queue checker (default target
//!   `reference:3`): producers (transactional with `--transactions`) and
//!   consumers while brokers are stopped, paused and cut off, then prints the seed, the
//!   sends and polls, and the anomaly counts by Jepsen's names; exits 1 on any anomaly
//!   (without idempotence, duplicates and reordered sends are expected and do not count).
//!
//! Targets `T`: `reference`, `reference:3` (the in-process reference cluster of 3 brokers,
//! with fault control; any `reference:N`, N ≤ 64), `kafka-local` (real Kafka from
//! `ci/kafka/`, one node), `kafka-local:3`, `testcontainers` (cargo feature),
//! `bootstrap=host:port[,…]`.
//!
//! # References
//!
//! - `DESIGN.md`, "What the product is, for whom"; `fixtures/README.md`; `ci/README.md`.

use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use kafka_spec::checker::{self, ConsumerMode, WorkloadOptions};
use kafka_spec::commands;
use kafka_spec::recording::{self, KnownDifferences};
use kafka_spec::target::spec::TargetSpec;
use kafka_spec::{Capability, RunOptions};
use reference::embedded::BrokerOptions;
use reference::{Cluster, ClusterOptions, EmbeddedBroker};
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

/// The command that regenerates the committed conformance report.
const REPORT_COMMAND: &str = "ci/conformance-report.sh";

#[derive(Debug, Parser)]
#[command(name = "kafka-spec", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What selects and shows scenarios, for every command that runs them.
#[derive(Debug, clap::Args)]
struct Selection {
    /// The directory of `.feature` files.
    #[arg(long, value_name = "DIR", default_value_os_t = kafka_spec::default_features_dir())]
    features: PathBuf,
    /// Only scenarios whose name contains this.
    #[arg(long, value_name = "TEXT")]
    name: Option<String>,
    /// A capability a `bootstrap=` cluster has (e.g. `fast-retention`; repeatable).
    #[arg(long = "capability", value_name = "NAME", value_parser = parse_capability)]
    capabilities: Vec<Capability>,
}

impl Selection {
    fn options(&self, verbose: bool) -> RunOptions {
        RunOptions {
            features_dir: self.features.clone(),
            name_filter: self.name.clone(),
            only: None,
            verbose,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the reference broker until Ctrl-C or SIGTERM.
    Serve {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 9092)]
        port: u16,
        /// Brokers in the cluster: 1 is the single reference broker; more start a
        /// replicated cluster (ids 1..=N) with its controller, in this process.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        brokers: u16,
        /// Where partition logs live; default: a fresh temporary directory.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Keep the temporary data directory on exit (and say where it is).
        #[arg(long)]
        keep: bool,
        /// A broker config by Kafka's name, e.g. `num.partitions=3` (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
        configs: Vec<(String, String)>,
    },
    /// Run every feature on one target and print the conformance table.
    Check {
        /// reference:3 (default: the in-process 3-broker cluster), reference (one broker),
        /// kafka-local, kafka-local:3, testcontainers, bootstrap=HOST:PORT.
        #[arg(long, value_name = "TARGET", conflicts_with = "bootstrap")]
        target: Option<TargetSpec>,
        /// A running Kafka-compatible cluster (same as --target bootstrap=HOST:PORT).
        #[arg(long, value_name = "HOST:PORT")]
        bootstrap: Option<String>,
        #[command(flatten)]
        selection: Selection,
        /// Also print every scenario's trace (what it observed).
        #[arg(long)]
        traces: bool,
        /// Also write the results as JUnit XML to this file.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Run every feature on target A and on each target B; print per scenario whether the
    /// traces are the same.
    Diff {
        /// Side A (default: reference).
        #[arg(long, value_name = "TARGET", default_value = "reference")]
        a: TargetSpec,
        /// Side B (repeatable: each is compared with A).
        #[arg(long, value_name = "TARGET", required = true)]
        b: Vec<TargetSpec>,
        #[command(flatten)]
        selection: Selection,
        /// Write the conformance report (Markdown) to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// The claims catalogue the report lists.
        #[arg(long, value_name = "FILE", default_value_os_t = kafka_spec::conformance::default_claims_path())]
        claims: PathBuf,
        /// Print cucumber's step-by-step output.
        #[arg(long)]
        verbose: bool,
    },
    /// Run the Jepsen-style queue checker under injected faults and print the anomalies.
    Checker {
        /// reference:3 (default), kafka-local:3, bootstrap=HOST:PORT (no faults), ...
        #[arg(long, value_name = "TARGET", conflicts_with = "bootstrap")]
        target: Option<TargetSpec>,
        /// A running Kafka-compatible cluster (same as --target bootstrap=HOST:PORT).
        #[arg(long, value_name = "HOST:PORT")]
        bootstrap: Option<String>,
        /// Seconds of sends and faults; the drain comes after.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        seconds: u64,
        /// Seeds the fault schedule (default: random; printed either way).
        #[arg(long)]
        seed: Option<u64>,
        /// Producers.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
        producers: u32,
        /// Consumers.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
        consumers: u32,
        /// `enable.idempotence` for the producers.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        idempotence: bool,
        /// Producers send in transactions (committed, or one in four aborted).
        #[arg(long)]
        transactions: bool,
        /// Consumers subscribe in one group rather than each assigning every partition.
        #[arg(long)]
        subscribe: bool,
        /// Inject no faults.
        #[arg(long)]
        no_faults: bool,
    },
    /// Record real Kafka's traces under fixtures/traces/kafka-<version>/.
    Record {
        /// A real Apache Kafka (default: kafka-local, plus kafka-local:3 for what needs
        /// several brokers).
        #[arg(long, value_name = "TARGET", default_value = "kafka-local")]
        target: TargetSpec,
        /// Where to write (default: fixtures/traces/kafka-<version>).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Only scenarios that have no recording yet.
        #[arg(long)]
        missing: bool,
        #[command(flatten)]
        selection: Selection,
        /// Print cucumber's step-by-step output.
        #[arg(long)]
        verbose: bool,
    },
}

fn parse_config(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    if key.trim().is_empty() {
        return Err(format!("{text:?} has an empty key"));
    }
    Ok((key.trim().to_owned(), value.trim().to_owned()))
}

fn parse_capability(text: &str) -> Result<Capability, String> {
    Capability::from_name(text).ok_or_else(|| {
        let known: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
        format!("unknown capability {text:?}; known: {}", known.join(", "))
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match Cli::parse().command {
        Command::Serve {
            port,
            brokers,
            data_dir,
            keep,
            configs,
        } => match brokers {
            1 => serve(port, data_dir, keep, configs).await,
            n => serve_cluster(port, usize::from(n), data_dir, keep, configs).await,
        },
        Command::Check {
            target,
            bootstrap,
            selection,
            traces,
            junit,
        } => interruptible(check(target, bootstrap, selection, traces, junit)).await,
        Command::Diff {
            a,
            b,
            selection,
            report,
            claims,
            verbose,
        } => interruptible(diff(a, b, selection, report, claims, verbose)).await,
        Command::Record {
            target,
            out,
            missing,
            selection,
            verbose,
        } => interruptible(record(target, out, missing, selection, verbose)).await,
        Command::Checker {
            target,
            bootstrap,
            seconds,
            seed,
            producers,
            consumers,
            idempotence,
            transactions,
            subscribe,
            no_faults,
        } => {
            let seed = seed.unwrap_or_else(checker::workload::random_seed);
            let mut options = WorkloadOptions::new(seed, Duration::from_secs(seconds));
            options.producers = producers;
            options.consumers = consumers;
            options.idempotence = idempotence;
            options.transactions = transactions;
            options.faults = !no_faults;
            if subscribe {
                options.consumer_mode = ConsumerMode::Subscribe;
            }
            interruptible(run_checker(target, bootstrap, options)).await
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kafka-spec: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command until it ends or Ctrl-C / SIGTERM arrives. On a signal the command's
/// future is dropped, and with it every target it started (a `kafka-local` cluster's nodes
/// are killed by its `Drop`).
async fn interruptible(
    command: impl Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        result = command => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted (Ctrl-C); targets stopped")),
        _ = terminate.recv() => Err(anyhow!("terminated (SIGTERM); targets stopped")),
    }
}

async fn serve(
    port: u16,
    data_dir: Option<PathBuf>,
    keep: bool,
    configs: Vec<(String, String)>,
) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(data_dir)?;
    let options = BrokerOptions {
        port,
        data_dir: Some(data.path.clone()),
        configs,
    };
    let broker = EmbeddedBroker::start_with(options)
        .await
        .context("starting the reference broker")?;
    announce(broker.bootstrap())?;
    tracing::info!(bootstrap = broker.bootstrap(), data_dir = %data.path.display(), "serving");
    until_ctrl_c_or_sigterm().await?;
    broker.shutdown().await;
    data.finish(keep)?;
    Ok(ExitCode::SUCCESS)
}

/// `serve --brokers N` with N > 1: a replicated cluster in this process.
async fn serve_cluster(
    port: u16,
    brokers: usize,
    data_dir: Option<PathBuf>,
    keep: bool,
    configs: Vec<(String, String)>,
) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(data_dir)?;
    let options = ClusterOptions {
        brokers,
        port,
        data_dir: Some(data.path.clone()),
        configs,
    };
    let cluster = Cluster::start_with(options)
        .await
        .context("starting the reference cluster")?;
    let bootstrap = cluster.bootstrap();
    announce(&bootstrap)?;
    tracing::info!(%bootstrap, brokers, data_dir = %data.path.display(), "serving a cluster");
    until_ctrl_c_or_sigterm().await?;
    cluster.shutdown().await;
    data.finish(keep)?;
    Ok(ExitCode::SUCCESS)
}

/// Where `serve` keeps its data: a directory given explicitly is never deleted; a temporary
/// one is, unless `--keep`.
struct DataDir {
    path: PathBuf,
    temporary: Option<tempfile::TempDir>,
}

impl DataDir {
    fn new(given: Option<PathBuf>) -> anyhow::Result<DataDir> {
        if let Some(path) = given {
            return Ok(DataDir {
                path,
                temporary: None,
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("kafka-spec-data-")
            .tempdir()
            .context("creating a temporary data directory")?;
        Ok(DataDir {
            path: dir.path().to_path_buf(),
            temporary: Some(dir),
        })
    }

    fn finish(self, keep: bool) -> anyhow::Result<()> {
        match self.temporary {
            Some(dir) if keep => eprintln!("data kept in {}", dir.keep().display()),
            Some(dir) => dir
                .close()
                .context("deleting the temporary data directory")?,
            None => {}
        }
        Ok(())
    }
}

/// The one stdout line `serve` promises once it is ready.
fn announce(bootstrap: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "bootstrap: {bootstrap}").context("writing to stdout")?;
    stdout.flush().context("flushing stdout")
}

async fn until_ctrl_c_or_sigterm() -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("listening for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
    Ok(())
}

fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--target`, else `--bootstrap` as a target, else the in-process 3-broker reference
/// cluster (the whole spec, multi-broker and fault scenarios included).
fn target_or_default(target: Option<TargetSpec>, bootstrap: Option<String>) -> TargetSpec {
    match (target, bootstrap) {
        (Some(spec), _) => spec,
        (None, Some(address)) => TargetSpec::Bootstrap {
            address,
            capabilities: Vec::new(),
        },
        (None, None) => TargetSpec::ReferenceCluster { brokers: 3 },
    }
}

async fn check(
    target: Option<TargetSpec>,
    bootstrap: Option<String>,
    selection: Selection,
    traces: bool,
    junit: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let spec = target_or_default(target, bootstrap).with_capabilities(&selection.capabilities)?;
    let summary = commands::check(&spec, &selection.options(true)).await?;
    println!();
    if traces {
        println!("{}", summary.traces());
    }
    if let Some(path) = junit {
        std::fs::write(&path, summary.junit_xml())
            .with_context(|| format!("writing JUnit XML to {}", path.display()))?;
    }
    print!("{}", summary.render());
    Ok(exit_code(summary.succeeded()))
}

/// Differences accepted for the pinned Kafka version (none if its recordings have none).
fn known_differences() -> anyhow::Result<KnownDifferences> {
    let (_, dir) = recording::pinned_recordings_dir()?;
    KnownDifferences::load(&dir)
}

async fn diff(
    a: TargetSpec,
    b: Vec<TargetSpec>,
    selection: Selection,
    report: Option<PathBuf>,
    claims: PathBuf,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let a = a.with_capabilities(&selection.capabilities)?;
    let b = b
        .into_iter()
        .map(|spec| match spec {
            TargetSpec::Bootstrap { .. } => spec.with_capabilities(&selection.capabilities),
            other => Ok(other),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let known = known_differences()?;
    let outcome = commands::diff(&a, &b, &selection.options(verbose), &known).await?;
    if let Some(path) = report {
        commands::write_report(&outcome, &path, &claims, &known, REPORT_COMMAND)?;
    }
    println!();
    println!("{}: {}", outcome.a.target, outcome.a.closing_line());
    for (summary, report) in &outcome.b {
        println!("{}: {}", summary.target, summary.closing_line());
        println!("{}", report.closing_line());
    }
    let ok = outcome.succeeded();
    println!(
        "differential run {}",
        if ok {
            "passed: no unexplained difference, no failure"
        } else {
            "FAILED: see the differences and failures above"
        }
    );
    Ok(exit_code(ok))
}

async fn record(
    target: TargetSpec,
    out: Option<PathBuf>,
    missing: bool,
    selection: Selection,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let target = target.with_capabilities(&selection.capabilities)?;
    let outcome = commands::record(&target, out, &selection.options(verbose), missing).await?;
    for path in &outcome.written {
        println!("wrote   {}", path.display());
    }
    for path in &outcome.deleted {
        println!("deleted {} (no scenario matches it)", path.display());
    }
    for why in &outcome.skipped {
        println!("not recorded (skipped): {why}");
    }
    for why in &outcome.failed {
        println!("NOT RECORDED, FAILED on real Kafka (the scenario is wrong): {why}");
    }
    println!(
        "recorded: {} written, {} unchanged, {} deleted, {} skipped, {} failed",
        outcome.written.len(),
        outcome.unchanged,
        outcome.deleted.len(),
        outcome.skipped.len(),
        outcome.failed.len()
    );
    Ok(exit_code(outcome.failed.is_empty()))
}

async fn run_checker(
    target: Option<TargetSpec>,
    bootstrap: Option<String>,
    options: WorkloadOptions,
) -> anyhow::Result<ExitCode> {
    let spec = target_or_default(target, bootstrap);
    eprintln!(
        "checker: seed {} on {spec}, {} s",
        options.seed,
        options.duration.as_secs()
    );
    let target = spec.start().await?;
    let result = checker::run(target.as_ref(), &options).await;
    target.shutdown().await;
    let report = result?;
    println!();
    print!("{report}");
    println!(
        "rerun: kafka-spec checker --target {spec} --seconds {} --seed {} --producers {} \
         --consumers {} --idempotence {}{}{}{}",
        options.duration.as_secs(),
        options.seed,
        options.producers,
        options.consumers,
        options.idempotence,
        if options.transactions {
            " --transactions"
        } else {
            ""
        },
        if options.consumer_mode == ConsumerMode::Subscribe {
            " --subscribe"
        } else {
            ""
        },
        if options.faults { "" } else { " --no-faults" }
    );
    Ok(exit_code(report.passed()))
}
