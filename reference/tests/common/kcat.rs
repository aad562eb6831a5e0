//! Running kcat (Debian's `kcat` package, librdkafka) from a test: a client no one here
//! wrote. Without kcat on PATH a test is skipped with the reason printed, or fails when `CI`
//! is set. Every run has a deadline and is killed when it passes.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How long one kcat run may take before it is killed.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// `true` when kcat can be run; otherwise prints why the test is skipped (or panics in CI).
pub fn available() -> bool {
    let found = std::process::Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "kcat is not on PATH and CI is set: install it (apt-get install kcat)"
        );
        eprintln!("SKIPPED: kcat is not on PATH (apt-get install kcat); this test needs it");
    }
    found
}

/// What one kcat run printed.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs kcat with `args`, writing `stdin` to it, killed after [`DEADLINE`].
pub async fn run(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kcat starts");
    let mut input = child.stdin.take().expect("stdin piped");
    let data = stdin.as_bytes().to_vec();
    let writer = tokio::spawn(async move {
        let _ = input.write_all(&data).await;
        // Dropping `input` closes kcat's stdin: a producer flushes and exits.
    });
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kcat {args:?} still running after {DEADLINE:?}"))
        .expect("kcat output");
    let _ = writer.await;
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
