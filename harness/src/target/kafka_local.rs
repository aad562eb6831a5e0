//! `kafka-local`: real Apache Kafka, started from Maven Central jars by the `ci/kafka/`
//! scripts, as plain `java` processes on 127.0.0.1 (KRaft, one node or three).
//!
//! The scripts own everything about Kafka itself (which jars, which settings, what "ready"
//! means); this target runs them with deadlines and reads what they print. `start.sh`
//! prints `bootstrap: host:port,…` once every broker answers; `stop.sh` signals a node by its
//! saved PID (SIGKILL for a crash, SIGSTOP/SIGCONT to freeze and thaw); `restart-node.sh`
//! starts one node again on its data and waits until it is registered. That is the whole
//! of fault control here: brokers are processes on one host, so a network cut between them
//! cannot be made, and a scenario that needs one fails with a message saying so.
//!
//! Every wait has a deadline: a cluster that is not ready in time is stopped and its work
//! directory (with each node's `kafka.log`) kept and named in the error. A missing Java is
//! found before anything starts, with the package that provides it. If the target is
//! dropped without [`Target::shutdown`] (a panic, an early return), its nodes are killed.
//!
//! # References
//!
//! - `ci/kafka/README.md` (scripts, ports, settings, measured start times).
//! - `DESIGN.md`, "harness/: targets" (`kafka-local`: faults by signals to its processes).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::target::{Capability, FaultControl, Target};

/// How long `start.sh` may take to report a ready cluster (its own `--timeout`); our own
/// deadline adds [`SCRIPT_GRACE`].
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// How long fetching the jars may take (Maven from a cold cache; ~11 s measured).
const FETCH_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Extra time a script gets beyond the deadline it is given, before it is killed.
const SCRIPT_GRACE: Duration = Duration::from_secs(30);

/// How long stopping every node may take (`stop.sh` sends SIGKILL after 30 s of SIGTERM).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one node may take to come back after a restart.
const RESTART_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a signal (KILL, STOP, CONT) to one node may take to act.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Lines of a script's stderr kept for an error message (all of it was echoed as it came).
const STDERR_TAIL_LINES: usize = 12;

/// The `ci/kafka/` directory of this checkout, or `$KAFKA_SPEC_KAFKA_SCRIPTS`.
pub fn default_scripts_dir() -> PathBuf {
    match std::env::var_os("KAFKA_SPEC_KAFKA_SCRIPTS") {
        Some(dir) => PathBuf::from(dir),
        None => crate::workspace_dir().join("ci").join("kafka"),
    }
}

/// The Kafka version pinned in `ci/kafka/pom.xml` (`<kafka.version>`), unless
/// `$KAFKA_VERSION` overrides it, as the scripts themselves decide.
pub fn pinned_kafka_version(scripts_dir: &Path) -> anyhow::Result<String> {
    if let Some(version) = std::env::var_os("KAFKA_VERSION") {
        return Ok(version.to_string_lossy().into_owned());
    }
    let pom = scripts_dir.join("pom.xml");
    let text =
        std::fs::read_to_string(&pom).with_context(|| format!("reading {}", pom.display()))?;
    text.split("<kafka.version>")
        .nth(1)
        .and_then(|rest| rest.split("</kafka.version>").next())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow!("{} has no <kafka.version>", pom.display()))
}

/// How to start a `kafka-local` cluster.
#[derive(Debug, Clone)]
pub struct KafkaLocalOptions {
    /// 1 or 3.
    pub nodes: u8,
    /// The `ci/kafka/` scripts.
    pub scripts_dir: PathBuf,
    /// `start.sh --timeout`.
    pub startup_timeout: Duration,
}

impl KafkaLocalOptions {
    /// `nodes` nodes with the default scripts, and the default startup deadline unless
    /// `$KAFKA_SPEC_KAFKA_STARTUP_TIMEOUT_S` sets another.
    pub fn new(nodes: u8) -> KafkaLocalOptions {
        let startup_timeout = std::env::var("KAFKA_SPEC_KAFKA_STARTUP_TIMEOUT_S")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map_or(DEFAULT_STARTUP_TIMEOUT, Duration::from_secs);
        KafkaLocalOptions {
            nodes,
            scripts_dir: default_scripts_dir(),
            startup_timeout,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Running,
    Killed,
    Paused,
}

/// A real Apache Kafka cluster this process started and will stop.
pub struct KafkaLocalTarget {
    nodes: u8,
    scripts_dir: PathBuf,
    dir: PathBuf,
    bootstrap: String,
    version: String,
    states: Mutex<BTreeMap<i32, NodeState>>,
    stopped: AtomicBool,
}

impl fmt::Debug for KafkaLocalTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaLocalTarget")
            .field("nodes", &self.nodes)
            .field("bootstrap", &self.bootstrap)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// `java` as the scripts will find it (`$JAVA_HOME/bin/java`, else `java` on `$PATH`), or
/// an error naming what is missing and how to get it.
fn find_java() -> anyhow::Result<PathBuf> {
    find_java_in(std::env::var_os("JAVA_HOME"), std::env::var_os("PATH"))
}

fn find_java_in(
    java_home: Option<std::ffi::OsString>,
    path: Option<std::ffi::OsString>,
) -> anyhow::Result<PathBuf> {
    if let Some(home) = java_home.filter(|h| !h.is_empty()) {
        let java = Path::new(&home).join("bin").join("java");
        if java.is_file() {
            return Ok(java);
        }
    }
    let path = path.unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("java"))
        .find(|java| java.is_file())
        .ok_or_else(|| {
            anyhow!(
                "java not found (neither $JAVA_HOME/bin/java nor java on PATH): the kafka-local \
                 target runs Apache Kafka, which needs a Java 17+ runtime. Install one \
                 (`apt-get install openjdk-17-jre-headless`) or set JAVA_HOME, or run against \
                 another target (`--target reference`, `--target bootstrap=host:port`)"
            )
        })
}

/// Whether every port is free on 127.0.0.1 right now.
fn ports_free(ports: impl IntoIterator<Item = u16>) -> bool {
    ports
        .into_iter()
        .all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
}

/// A base port whose broker ports (`base..base+nodes`) and controller ports (`base+100..`)
/// are all free. The search starts at a place that depends on the process id, so that two
/// runs on one machine rarely race for the same ports.
fn free_base_port(nodes: u8) -> anyhow::Result<u16> {
    const FIRST: u32 = 20_000;
    const SLOTS: u32 = 150;
    const STRIDE: u32 = 200;
    let start = std::process::id() % SLOTS;
    for i in 0..SLOTS {
        let base = (FIRST + ((start + i) % SLOTS) * STRIDE) as u16;
        let n = u16::from(nodes);
        if ports_free((base..base + n).chain(base + 100..base + 100 + n)) {
            return Ok(base);
        }
    }
    bail!("no free ports for a {nodes}-node Kafka on 127.0.0.1 between 20000 and 50000")
}

/// What a script printed and how it ended.
struct ScriptRun {
    success: bool,
    stdout: String,
    stderr_tail: Vec<String>,
}

/// Runs `bash SCRIPT ARGS` in its own process group with a deadline. Its stderr is echoed
/// to ours as it comes (progress, and Maven's output on a first fetch) and its tail kept;
/// stdout is returned. Past the deadline the whole process group is killed.
async fn run_script(
    scripts_dir: &Path,
    script: &str,
    args: &[String],
    deadline: Duration,
) -> anyhow::Result<ScriptRun> {
    let path = scripts_dir.join(script);
    anyhow::ensure!(
        path.is_file(),
        "{} not found: the kafka-local target needs the ci/kafka/ scripts of a kafka-spec \
         checkout (or KAFKA_SPEC_KAFKA_SCRIPTS naming that directory)",
        path.display()
    );
    let mut child = Command::new("bash")
        .arg(&path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("running bash {}", path.display()))?;
    // If this future is dropped (Ctrl-C), the script and what it started die with it.
    let _group = ProcessGroupGuard(child.id());
    let stdout = child.stdout.take().context("script stdout")?;
    let stderr = child.stderr.take().context("script stderr")?;
    let out_task = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut out = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            out.push_str(&line);
            out.push('\n');
        }
        out
    });
    let err_task = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut tail: Vec<String> = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("  {line}");
            tail.push(line);
            if tail.len() > STDERR_TAIL_LINES {
                tail.remove(0);
            }
        }
        tail
    });
    let status = match tokio::time::timeout(deadline, child.wait()).await {
        Ok(status) => status.with_context(|| format!("waiting for {script}"))?,
        Err(_) => {
            kill_process_group(child.id());
            let _ = child.wait().await;
            let tail = err_task.await.unwrap_or_default();
            bail!(
                "{script} did not finish within {deadline:?}; its last words:\n{}",
                tail.join("\n")
            );
        }
    };
    Ok(ScriptRun {
        success: status.success(),
        stdout: out_task.await.unwrap_or_default(),
        stderr_tail: err_task.await.unwrap_or_default(),
    })
}

/// Kills a script's process group: the script and everything it started (readiness probes,
/// sleeps). Kafka nodes run in sessions of their own and are stopped through `stop.sh`.
fn kill_process_group(pid: Option<u32>) {
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Kills a script's process group when dropped, unless the script has exited by then.
struct ProcessGroupGuard(Option<u32>);

impl Drop for ProcessGroupGuard {
    fn drop(&mut self) {
        let Some(pid) = self.0 else { return };
        // A group whose leader is gone (and reaped) has nothing left worth killing.
        if Path::new(&format!("/proc/{pid}")).exists() {
            kill_process_group(Some(pid));
        }
    }
}

/// Kills whatever Kafka nodes a cluster directory holds when dropped, unless disarmed: a
/// start interrupted half-way (Ctrl-C, an error) leaves no process behind.
struct ClusterGuard {
    scripts_dir: PathBuf,
    dir: PathBuf,
    armed: bool,
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if self.armed {
            stop_all_now(&self.scripts_dir, &self.dir);
        }
    }
}

/// A script that must succeed: its stdout, or an error with its stderr's tail.
async fn run_script_ok(
    scripts_dir: &Path,
    script: &str,
    args: &[String],
    deadline: Duration,
) -> anyhow::Result<String> {
    let run = run_script(scripts_dir, script, args, deadline).await?;
    if run.success {
        Ok(run.stdout)
    } else {
        bail!(
            "{script} {} failed:\n{}",
            args.join(" "),
            run.stderr_tail.join("\n")
        )
    }
}

impl KafkaLocalTarget {
    /// Fetches the jars if needed, starts the cluster and waits until it is ready.
    pub async fn start(options: KafkaLocalOptions) -> anyhow::Result<KafkaLocalTarget> {
        anyhow::ensure!(
            matches!(options.nodes, 1 | 3),
            "kafka-local runs 1 or 3 nodes, not {}",
            options.nodes
        );
        find_java()?;
        let scripts = options.scripts_dir.clone();
        let started = Instant::now();
        eprintln!("kafka-local: fetching the Kafka jars if needed (ci/kafka/fetch.sh)");
        run_script_ok(&scripts, "fetch.sh", &[], FETCH_TIMEOUT)
            .await
            .context("fetching Apache Kafka's jars from Maven Central (needs Maven: `apt-get install maven`)")?;
        let dir = tempfile::Builder::new()
            .prefix("kafka-spec-kafka-")
            .tempdir()
            .context("creating a work directory for Kafka")?
            .keep();
        let base_port = free_base_port(options.nodes)?;
        let args: Vec<String> = vec![
            "--nodes".into(),
            options.nodes.to_string(),
            "--dir".into(),
            dir.display().to_string(),
            "--base-port".into(),
            base_port.to_string(),
            "--timeout".into(),
            options.startup_timeout.as_secs().to_string(),
        ];
        eprintln!(
            "kafka-local: starting Apache Kafka, {} node(s) on 127.0.0.1:{base_port}.., in {}",
            options.nodes,
            dir.display()
        );
        let deadline = options.startup_timeout + SCRIPT_GRACE;
        let mut guard = ClusterGuard {
            scripts_dir: scripts.clone(),
            dir: dir.clone(),
            armed: true,
        };
        let run = match run_script(&scripts, "start.sh", &args, deadline).await {
            Ok(run) => run,
            Err(error) => {
                return Err(error.context(format!(
                    "Apache Kafka did not become ready; its logs are kept in {}/node-*/kafka.log",
                    dir.display()
                )));
            }
        };
        if !run.success {
            bail!(
                "ci/kafka/start.sh could not start Apache Kafka ({} node(s)); logs are kept in \
                 {}/node-*/kafka.log. What it said:\n{}",
                options.nodes,
                dir.display(),
                run.stderr_tail.join("\n")
            );
        }
        let bootstrap = run
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix("bootstrap: "))
            .map(str::trim)
            .map(str::to_owned);
        let Some(bootstrap) = bootstrap else {
            bail!(
                "ci/kafka/start.sh succeeded but printed no `bootstrap:` line:\n{}",
                run.stdout
            );
        };
        // From here the target owns the cluster (and stops it, or kills it on drop).
        guard.armed = false;
        let version = cluster_env(&dir, "KAFKA_VERSION")
            .or_else(|| pinned_kafka_version(&scripts).ok())
            .unwrap_or_else(|| "unknown".to_owned());
        eprintln!(
            "kafka-local: Apache Kafka {version} ready at {bootstrap} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        let states = (1..=i32::from(options.nodes))
            .map(|id| (id, NodeState::Running))
            .collect();
        Ok(KafkaLocalTarget {
            nodes: options.nodes,
            scripts_dir: scripts,
            dir,
            bootstrap,
            version,
            states: Mutex::new(states),
            stopped: AtomicBool::new(false),
        })
    }

    /// The cluster's work directory (configs, data, each node's `kafka.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_node(&self, broker_id: i32) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=i32::from(self.nodes)).contains(&broker_id),
            "broker {broker_id} is not in this {}-node cluster (ids 1..={})",
            self.nodes,
            self.nodes
        );
        Ok(())
    }

    fn set_state(&self, broker_id: i32, state: NodeState) {
        if let Ok(mut states) = self.states.lock() {
            states.insert(broker_id, state);
        }
    }

    fn state(&self, broker_id: i32) -> NodeState {
        self.states
            .lock()
            .ok()
            .and_then(|s| s.get(&broker_id).copied())
            .unwrap_or(NodeState::Running)
    }

    /// The arguments of a node script (`stop.sh`, `restart-node.sh`): `--dir DIR --node ID`,
    /// then `option value`, for a node of this cluster.
    fn node_args(
        &self,
        broker_id: i32,
        option: &str,
        value: String,
    ) -> anyhow::Result<Vec<String>> {
        self.check_node(broker_id)?;
        Ok(vec![
            "--dir".into(),
            self.dir.display().to_string(),
            "--node".into(),
            broker_id.to_string(),
            option.to_owned(),
            value,
        ])
    }

    async fn signal(&self, broker_id: i32, signal: &str) -> anyhow::Result<()> {
        let args = self.node_args(broker_id, "--signal", signal.to_owned())?;
        run_script_ok(&self.scripts_dir, "stop.sh", &args, SIGNAL_TIMEOUT)
            .await
            .with_context(|| format!("sending SIG{signal} to broker {broker_id}"))?;
        Ok(())
    }

    /// Sends `signal` to a node and keeps the state it leaves the node in.
    async fn signal_into(
        &self,
        broker_id: i32,
        signal: &str,
        state: NodeState,
    ) -> anyhow::Result<()> {
        self.signal(broker_id, signal).await?;
        self.set_state(broker_id, state);
        Ok(())
    }

    async fn restart(&self, broker_id: i32) -> anyhow::Result<()> {
        let args = self.node_args(
            broker_id,
            "--timeout",
            RESTART_TIMEOUT.as_secs().to_string(),
        )?;
        run_script_ok(
            &self.scripts_dir,
            "restart-node.sh",
            &args,
            RESTART_TIMEOUT + SCRIPT_GRACE,
        )
        .await
        .with_context(|| format!("restarting broker {broker_id}"))?;
        Ok(())
    }

    async fn stop_everything(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let args = vec!["--dir".into(), self.dir.display().to_string()];
        match run_script_ok(&self.scripts_dir, "stop.sh", &args, STOP_TIMEOUT).await {
            Ok(_) => {
                if let Err(error) = std::fs::remove_dir_all(&self.dir) {
                    eprintln!(
                        "kafka-local: could not delete {}: {error}",
                        self.dir.display()
                    );
                }
            }
            Err(error) => {
                eprintln!("kafka-local: stopping Kafka failed: {error:#}; killing its nodes");
                stop_all_now(&self.scripts_dir, &self.dir);
            }
        }
    }
}

/// A value from the cluster's `cluster.env` (written by `start.sh`).
fn cluster_env(dir: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("cluster.env")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_owned())
}

/// Kills every node of the cluster in `dir` without waiting for the runtime (used on failure
/// paths and from `Drop`). Errors are reported, not returned: there is nothing else to try.
fn stop_all_now(scripts_dir: &Path, dir: &Path) {
    if !dir.join("cluster.env").is_file() {
        return;
    }
    let status = std::process::Command::new("bash")
        .arg(scripts_dir.join("stop.sh"))
        .args(["--dir", &dir.display().to_string(), "--signal", "KILL"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        let _ = writeln!(
            std::io::stderr(),
            "kafka-local: could not kill the Kafka nodes of {} ({status:?}); see node-*.pid there",
            dir.display()
        );
    }
}

impl Drop for KafkaLocalTarget {
    fn drop(&mut self) {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            stop_all_now(&self.scripts_dir, &self.dir);
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Target for KafkaLocalTarget {
    fn name(&self) -> String {
        let nodes = if self.nodes == 1 { "node" } else { "nodes" };
        format!(
            "kafka-local (Kafka {}, {} {nodes})",
            self.version, self.nodes
        )
    }

    fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    fn broker_ids(&self) -> Vec<i32> {
        (1..=i32::from(self.nodes)).collect()
    }

    fn supports(&self, capability: Capability) -> bool {
        match capability {
            // start.sh: log.retention.check.interval.ms=1000, log.initial.task.delay.ms=1000.
            Capability::FastRetention | Capability::FaultControl | Capability::JavaClient => true,
            Capability::MultipleBrokers => self.nodes > 1,
        }
    }

    fn faults(&self) -> Option<&dyn FaultControl> {
        Some(self)
    }

    fn kafka_version(&self) -> Option<String> {
        Some(self.version.clone())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.stop_everything().boxed()
    }
}

impl FaultControl for KafkaLocalTarget {
    fn stop_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>> {
        async move {
            if self.state(broker_id) == NodeState::Paused {
                self.signal(broker_id, "CONT").await?;
            }
            self.signal_into(broker_id, "KILL", NodeState::Killed).await
        }
        .boxed()
    }

    fn start_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>> {
        async move {
            self.restart(broker_id).await?;
            self.set_state(broker_id, NodeState::Running);
            Ok(())
        }
        .boxed()
    }

    fn pause_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>> {
        self.signal_into(broker_id, "STOP", NodeState::Paused)
            .boxed()
    }

    fn resume_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>> {
        self.signal_into(broker_id, "CONT", NodeState::Running)
            .boxed()
    }

    fn isolate_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>> {
        async move {
            bail!(
                "kafka-local cannot cut broker {broker_id} off from the others: its brokers are \
                 processes on one host, reached over 127.0.0.1 (it can kill, restart, pause and \
                 resume a broker)"
            )
        }
        .boxed()
    }

    fn heal(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        // Nothing is ever isolated here.
        async { Ok(()) }.boxed()
    }

    fn restore(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        async move {
            let faulted: Vec<(i32, NodeState)> = self
                .states
                .lock()
                .map(|s| {
                    s.iter()
                        .filter(|(_, state)| **state != NodeState::Running)
                        .map(|(id, state)| (*id, *state))
                        .collect()
                })
                .unwrap_or_default();
            for (broker_id, state) in faulted {
                match state {
                    NodeState::Paused => self.resume_broker(broker_id).await?,
                    NodeState::Killed => self.start_broker(broker_id).await?,
                    NodeState::Running => {}
                }
            }
            Ok(())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_version_is_read_from_the_pom() {
        let version = pinned_kafka_version(&default_scripts_dir()).expect("pom.xml");
        assert!(
            version.starts_with("4."),
            "ci/kafka/pom.xml pins Kafka {version}"
        );
    }

    #[test]
    fn a_missing_java_is_named_with_how_to_get_it() {
        let empty = tempfile::tempdir().expect("temp dir");
        let error = find_java_in(
            Some(empty.path().join("no-jdk").into_os_string()),
            Some(empty.path().as_os_str().to_owned()),
        )
        .expect_err("no java there");
        let message = error.to_string();
        assert!(message.contains("java not found"), "{message}");
        assert!(
            message.contains("apt-get install openjdk-17-jre-headless"),
            "{message}"
        );
    }

    #[test]
    fn a_free_base_port_has_free_broker_and_controller_ports() {
        let base = free_base_port(3).expect("some free ports");
        assert!(ports_free([base, base + 1, base + 2, base + 100]));
    }
}
