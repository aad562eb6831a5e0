//! A group member whose client is Apache Kafka's Java consumer: `ci/clients/ScenarioConsumer.java`
//! run from Kafka's jars by `ci/kafka/run-class.sh` (which fetches them once from Maven
//! Central), driven over its stdin and stdout.
//!
//! The member's thread here plays the part [`super::member`]'s polling thread plays for
//! librdkafka: it turns the step's commands into lines on the consumer's stdin and waits for
//! their replies, while a reader thread turns the consumer's events (rebalance callbacks,
//! records, errors) into the same [`MemberState`] a librdkafka member fills. So every group
//! step works on either client. What the Java client does not give: librdkafka's statistics
//! (a Java member has no fetch position for the steps that read it).
//!
//! A scenario that starts Java members is tagged `@requires-java-client`: without a JDK 17+
//! (the consumer is run as a source file) and either Kafka's jars in the cache or Maven to
//! fetch them, it is skipped with that reason.
//!
//! # References
//! - `ci/clients/ScenarioConsumer.java` (the line protocol), `ci/kafka/run-class.sh`
//! - Java `KafkaConsumer`, `ConsumerRebalanceListener` (revoke before, assign after the
//!   assignment changes)

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, Command as Process, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::sync::oneshot;

use super::TopicPartition;
use super::member::{Command, MAX_KEPT_RECORDS, MemberRecord, MemberState, RebalanceEvent};
use crate::kafka_error::ErrorCode;
use crate::observation::show_value;

/// Settings a Java member starts from (the Java names of [`super::MEMBER_DEFAULTS`]):
/// short timeouts so that rebalances take seconds, and no automatic commits.
pub const JAVA_MEMBER_DEFAULTS: &[(&str, &str)] = &[
    ("session.timeout.ms", "3000"),
    ("heartbeat.interval.ms", "300"),
    ("max.poll.interval.ms", "10000"),
    ("enable.auto.commit", "false"),
    ("auto.offset.reset", "earliest"),
    ("fetch.max.wait.ms", "100"),
    ("metadata.max.age.ms", "1000"),
];

/// How long starting the JVM, compiling the consumer and subscribing may take (the first
/// run may also fetch Kafka's jars).
pub const JAVA_START_TIMEOUT: Duration = Duration::from_secs(180);

/// How long a command (a commit, closing) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// Why Java members cannot run here, if they cannot: no JDK 17+ with its compiler, or no
/// way to get Kafka's jars.
pub fn java_client_missing() -> Option<String> {
    let java = match std::env::var_os("JAVA_HOME") {
        Some(home) => std::path::PathBuf::from(home).join("bin").join("java"),
        None => std::path::PathBuf::from("java"),
    };
    let modules = Process::new(&java).arg("--list-modules").output();
    let has_compiler = modules
        .as_ref()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("jdk.compiler@"));
    if !has_compiler {
        return Some(format!(
            "needs a JDK 17+ for the Java client ({} has no jdk.compiler module or does not run)",
            java.display()
        ));
    }
    let scripts = crate::target::kafka_local::default_scripts_dir();
    let cached = crate::target::kafka_local::pinned_kafka_version(&scripts)
        .ok()
        .and_then(|version| {
            let dir = match std::env::var_os("KAFKA_CACHE_DIR") {
                Some(dir) => std::path::PathBuf::from(dir),
                None => std::path::PathBuf::from(std::env::var_os("HOME")?)
                    .join(".cache/kafka-spec")
                    .join(format!("kafka-{version}")),
            };
            Some(dir.join("libs").join(".complete").is_file())
        })
        .unwrap_or(false);
    let maven = Process::new("mvn")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!cached && !maven).then(|| {
        "needs Kafka's jars for the Java client (ci/kafka/fetch.sh, which needs Maven)".to_owned()
    })
}

/// What the reader thread hands the member's thread.
pub(super) enum Line {
    Ready,
    Reply(Result<(), ErrorCode>),
    Closed,
}

/// Kafka's jars, fetched once per process (`ci/kafka/fetch.sh`, a no-op once they are
/// cached): Java members starting at once must not fetch side by side.
fn ensure_jars() -> anyhow::Result<()> {
    static FETCHED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    FETCHED
        .get_or_init(|| {
            let fetch = crate::target::kafka_local::default_scripts_dir().join("fetch.sh");
            let output = Process::new("bash")
                .arg(&fetch)
                .output()
                .map_err(|e| format!("running {}: {e}", fetch.display()))?;
            if output.status.success() {
                Ok(())
            } else {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                Err(format!(
                    "{} failed ({}): {}",
                    fetch.display(),
                    output.status,
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ))
            }
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Starts the Java consumer; the returned child's stdout is read by a thread that fills
/// `state`.
pub(super) fn spawn(
    bootstrap: &str,
    group_id: &str,
    name: &str,
    topics: &[String],
    settings: &[(String, String)],
    state: Arc<Mutex<MemberState>>,
) -> anyhow::Result<(Child, Receiver<Line>)> {
    ensure_jars()?;
    let workspace = crate::workspace_dir();
    let run_class = crate::target::kafka_local::default_scripts_dir().join("run-class.sh");
    let source = workspace
        .join("ci")
        .join("clients")
        .join("ScenarioConsumer.java");
    let mut process = Process::new("bash");
    process
        .arg(&run_class)
        .arg(&source)
        .arg(bootstrap)
        .arg(group_id)
        .arg(name)
        .arg(topics.join(","));
    for (key, value) in settings {
        process.arg(format!("{key}={value}"));
    }
    let mut child = process
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} {}", run_class.display(), source.display()))?;
    let stdout = child.stdout.take().context("the consumer's stdout")?;
    let stderr = child.stderr.take().context("the consumer's stderr")?;
    let (lines, received) = mpsc::channel();
    let member = name.to_owned();
    std::thread::Builder::new()
        .name(format!("java-{name}-out"))
        .spawn(move || read_events(BufReader::new(stdout), &state, &lines, &member))
        .context("spawning a reader thread")?;
    let member = name.to_owned();
    std::thread::Builder::new()
        .name(format!("java-{name}-err"))
        .spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                tracing::debug!(member, "java: {line}");
            }
        })
        .context("spawning a reader thread")?;
    Ok((child, received))
}

/// The body of a Java member's thread: waits for the consumer to be ready, then passes
/// commands on until it is closed (or the member dropped).
pub(super) fn drive(
    mut child: Child,
    lines: Receiver<Line>,
    inbox: Receiver<Command>,
    ready: oneshot::Sender<anyhow::Result<()>>,
) {
    match lines.recv_timeout(JAVA_START_TIMEOUT) {
        Ok(Line::Ready) => {
            let _ = ready.send(Ok(()));
        }
        _ => {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            let _ = ready.send(Err(anyhow!(
                "the Java consumer did not start ({status}); run with RUST_LOG=debug for its log"
            )));
            return;
        }
    }
    let Some(mut stdin) = child.stdin.take() else {
        return;
    };
    while let Ok(command) = inbox.recv() {
        match command {
            Command::CommitConsumed(reply) => {
                let _ = reply.send(ask(&mut stdin, &lines, "commit-consumed"));
            }
            Command::Commit(offsets, reply) => {
                let list: Vec<String> = offsets
                    .iter()
                    .map(|(t, p, o)| format!("{t}:{p}:{o}"))
                    .collect();
                let _ = reply.send(ask(
                    &mut stdin,
                    &lines,
                    &format!("commit\t{}", list.join(",")),
                ));
            }
            Command::Polling(on) => {
                let _ = writeln!(stdin, "polling\t{}", if on { "on" } else { "off" });
            }
            Command::Close(reply) => {
                close(&mut child, stdin, &lines);
                let _ = reply.send(());
                return;
            }
        }
    }
    close(&mut child, stdin, &lines);
}

fn close(child: &mut Child, mut stdin: ChildStdin, lines: &Receiver<Line>) {
    let _ = writeln!(stdin, "close");
    drop(stdin);
    let until = std::time::Instant::now() + COMMAND_TIMEOUT;
    loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(Line::Closed) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!("a Java consumer did not close in time: killed");
                let _ = child.kill();
                break;
            }
        }
    }
    let _ = child.wait();
}

fn ask(stdin: &mut ChildStdin, lines: &Receiver<Line>, command: &str) -> Result<(), ErrorCode> {
    let harness = |what: &str| ErrorCode {
        code: i32::MIN,
        name: format!("HARNESS: {what}"),
    };
    writeln!(stdin, "{command}").map_err(|e| harness(&format!("writing {command}: {e}")))?;
    let until = std::time::Instant::now() + COMMAND_TIMEOUT;
    loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(Line::Reply(result)) => return result,
            Ok(_) => {}
            Err(_) => return Err(harness(&format!("no reply to {command}"))),
        }
    }
}

fn read_events(
    stdout: BufReader<std::process::ChildStdout>,
    state: &Mutex<MemberState>,
    lines: &mpsc::Sender<Line>,
    member: &str,
) {
    for line in stdout.lines().map_while(Result::ok) {
        let fields: Vec<&str> = line.split('\t').collect();
        let mut state = match state.lock() {
            Ok(state) => state,
            Err(_) => return,
        };
        match fields.as_slice() {
            ["ready"] => {
                let _ = lines.send(Line::Ready);
            }
            ["closed"] => {
                let _ = lines.send(Line::Closed);
            }
            ["reply", "ok"] => {
                let _ = lines.send(Line::Reply(Ok(())));
            }
            ["reply", "error", code, name, ..] => {
                let _ = lines.send(Line::Reply(Err(java_error(code, name))));
            }
            ["assigned", tps] => state
                .rebalances
                .push(RebalanceEvent::Assign(parse_tps(tps))),
            ["revoked", tps] | ["lost", tps] => {
                state
                    .rebalances
                    .push(RebalanceEvent::Revoke(parse_tps(tps)));
            }
            ["assignment", tps] => state.assignment = parse_tps(tps),
            ["record", topic, partition, offset, value] => {
                if state.records.len() < MAX_KEPT_RECORDS {
                    let value = (*value != "-").then(|| decode_hex(value));
                    state.records.push(MemberRecord {
                        topic: (*topic).to_owned(),
                        partition: partition.parse().unwrap_or(-1),
                        offset: offset.parse().unwrap_or(-1),
                        value: show_value(value.as_deref()),
                    });
                }
            }
            ["error", code, name, ..] => state.errors.push(java_error(code, name)),
            _ => tracing::debug!(member, "java consumer said: {line}"),
        }
    }
}

/// A Java client's error: Kafka's code when it came from a broker, else the exception.
fn java_error(code: &str, name: &str) -> ErrorCode {
    match code.parse::<i16>() {
        Ok(code) if code >= 0 => ErrorCode::from_kafka(code),
        _ => ErrorCode {
            code: i32::MIN,
            name: format!("JAVA: {name}"),
        },
    }
}

/// `topic:partition,...` (a topic name may hold `:`; the partition follows the last one).
fn parse_tps(tps: &str) -> BTreeSet<TopicPartition> {
    tps.split(',')
        .filter(|tp| !tp.is_empty())
        .filter_map(|tp| {
            let (topic, partition) = tp.rsplit_once(':')?;
            Some((topic.to_owned(), partition.parse().ok()?))
        })
        .collect()
}

fn decode_hex(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks(2)
        .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_and_values_parse_as_the_java_consumer_prints_them() {
        let tps = parse_tps("orders:0,a:b:2,");
        assert_eq!(
            tps,
            [("a:b".to_owned(), 2), ("orders".to_owned(), 0)].into()
        );
        assert!(parse_tps("").is_empty());
        assert_eq!(decode_hex("6869ff"), b"hi\xff");
        assert_eq!(
            java_error("27", "REBALANCE_IN_PROGRESS").name,
            "REBALANCE_IN_PROGRESS"
        );
        assert_eq!(java_error("-1", "TimeoutException").code, i32::MIN);
    }
}
