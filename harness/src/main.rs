//! `kafka-spec`: serve the reference broker, or check any Kafka against the spec.
//!
//! - `kafka-spec serve [--port 9092] [--data-dir DIR] [--keep] [--config key=value]…` runs
//!   the reference broker until Ctrl-C or SIGTERM, printing `bootstrap: 127.0.0.1:<port>`
//!   once it accepts connections.
//! - `kafka-spec check [--bootstrap host:port] [--features DIR] [--capability NAME]…` runs
//!   every feature against the embedded reference broker (default) or a running cluster,
//!   prints the conformance table and `N passed, N failed, N skipped`, and exits 1 if
//!   anything failed.
//!
//! # References
//!
//! - `DESIGN.md`, "What the product is, for whom".

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use kafka_spec::{BootstrapTarget, Capability, ReferenceTarget, RunOptions, Target, run_features};
use reference::EmbeddedBroker;
use reference::embedded::BrokerOptions;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "kafka-spec", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the reference broker until Ctrl-C or SIGTERM.
    Serve {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 9092)]
        port: u16,
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
    /// Run every feature and print the conformance table.
    Check {
        /// A running Kafka-compatible cluster; default: the embedded reference broker.
        #[arg(long, value_name = "HOST:PORT")]
        bootstrap: Option<String>,
        /// The directory of `.feature` files.
        #[arg(long, value_name = "DIR", default_value_os_t = kafka_spec::default_features_dir())]
        features: PathBuf,
        /// A capability the `--bootstrap` cluster has (e.g. `fast-retention`; repeatable).
        #[arg(long = "capability", value_name = "NAME", value_parser = parse_capability)]
        capabilities: Vec<Capability>,
        /// Only scenarios whose name contains this.
        #[arg(long, value_name = "TEXT")]
        name: Option<String>,
        /// Also print every scenario's trace (what it observed).
        #[arg(long)]
        traces: bool,
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
        .init();
    let result = match Cli::parse().command {
        Command::Serve {
            port,
            data_dir,
            keep,
            configs,
        } => serve(port, data_dir, keep, configs).await,
        Command::Check {
            bootstrap,
            features,
            capabilities,
            name,
            traces,
        } => check(bootstrap, features, capabilities, name, traces).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kafka-spec: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    port: u16,
    data_dir: Option<PathBuf>,
    keep: bool,
    configs: Vec<(String, String)>,
) -> anyhow::Result<ExitCode> {
    // A directory given explicitly is never deleted; a temporary one is, unless --keep.
    let (data_path, temporary) = match data_dir {
        Some(dir) => (dir, None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("kafka-spec-data-")
                .tempdir()
                .context("creating a temporary data directory")?;
            (dir.path().to_path_buf(), Some(dir))
        }
    };
    let options = BrokerOptions {
        port,
        data_dir: Some(data_path.clone()),
        configs,
    };
    let broker = EmbeddedBroker::start_with(options)
        .await
        .context("starting the reference broker")?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "bootstrap: {}", broker.bootstrap()).context("writing to stdout")?;
        stdout.flush().context("flushing stdout")?;
    }
    tracing::info!(bootstrap = broker.bootstrap(), data_dir = %data_path.display(), "serving");

    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("listening for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
    broker.shutdown().await;

    if let Some(dir) = temporary {
        if keep {
            let kept = dir.keep();
            eprintln!("data kept in {}", kept.display());
        } else {
            dir.close()
                .context("deleting the temporary data directory")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn check(
    bootstrap: Option<String>,
    features: PathBuf,
    capabilities: Vec<Capability>,
    name_filter: Option<String>,
    traces: bool,
) -> anyhow::Result<ExitCode> {
    let options = RunOptions {
        features_dir: features,
        name_filter,
    };
    let summary = match bootstrap {
        Some(address) => {
            let mut target = BootstrapTarget::new(address);
            for capability in capabilities {
                target = target.with_capability(capability)?;
            }
            let target: Arc<dyn Target> = Arc::new(target);
            run_features(target, &options).await
        }
        None => {
            if !capabilities.is_empty() {
                return Err(anyhow!("--capability describes a --bootstrap cluster"));
            }
            let target = Arc::new(ReferenceTarget::start().await?);
            let summary = run_features(target.clone(), &options).await;
            target.shutdown().await;
            summary
        }
    };
    println!();
    if traces {
        println!("{}", summary.traces());
    }
    print!("{}", summary.render());
    Ok(if summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
