#!/usr/bin/env bash
# The live differential run CI makes: every scenario on the reference cluster (reference:3) and on real
# Apache Kafka 4.x (one node, then three), traces compared scenario by scenario. Fails on
# any difference not listed with its reason in fixtures/traces/kafka-<version>/known-differences.txt,
# and on any scenario that fails anywhere. Then the bad-input checks: a bootstrap address
# with nothing listening, a missing Java, a Kafka that never becomes ready must each end
# quickly, non-zero, with a message saying what is missing.
#
# Usage: ci/kafka-diff.sh [extra kafka-spec diff arguments, e.g. --name TEXT]
# Env:   KAFKA_SPEC_BIN    a kafka-spec binary (default: target/debug/kafka-spec, built by
#                          `cargo build -p kafka-spec`, which `cargo test` already did)
#        KAFKA_DIFF_REPORT where the run's conformance report goes (default:
#                          target/conformance.md); compared with features/CONFORMANCE.md
# Needs Java 17+ and Maven (ci/kafka/README.md). Every Kafka it starts lives under a TMPDIR
# of its own, and is killed on exit whatever happened.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ -n "${KAFKA_SPEC_BIN:-}" ]]; then
    bin="$KAFKA_SPEC_BIN"
else
    cargo build -q -p kafka-spec
    bin="$root/target/debug/kafka-spec"
fi
report="${KAFKA_DIFF_REPORT:-$root/target/conformance.md}"

work="$(mktemp -d /tmp/kafka-diff.XXXXXX)"
# Clusters the harness starts go under TMPDIR: whatever is left there is killed on exit.
export TMPDIR="$work"
cleanup() {
    local env dir
    for env in "$work"/kafka-spec-kafka-*/cluster.env; do
        [[ -f "$env" ]] || continue
        dir="$(dirname "$env")"
        if ls "$dir"/node-*.pid >/dev/null 2>&1; then
            echo "ci/kafka-diff.sh: killing Kafka left running in $dir" >&2
            bash ci/kafka/stop.sh --dir "$dir" --signal KILL >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

# ---- the differential run -----------------------------------------------------------
started=$SECONDS
"$bin" diff --a reference:3 --b kafka-local --b kafka-local:3 --report "$report" "$@"
echo "differential run: $((SECONDS - started)) s"
if ! diff -q "$report" features/CONFORMANCE.md >/dev/null 2>&1; then
    echo "note: features/CONFORMANCE.md is not what this run reports; regenerate it with" \
        "ci/conformance-report.sh (differences below)"
    diff "$report" features/CONFORMANCE.md | head -n 40 || true
fi

# ---- bad input: a clear message, a non-zero exit, no hang ------------------------------
# expect_failure NAME SECONDS PATTERN COMMAND...: COMMAND must fail within SECONDS and say
# PATTERN on stderr.
# The hostile frames of reference/tests/hostile_requests.rs, sent to real Kafka: what the
# reference is asked to survive, Kafka survives too (no connection left hanging, still serving).
hostile_dir="$work/kafka-spec-kafka-hostile"
bash ci/kafka/start.sh --nodes 1 --dir "$hostile_dir"
hostile_port="$(sed -n 's/^BASE_PORT=//p' "$hostile_dir/cluster.env")"
KAFKA_SPEC_HOSTILE_BOOTSTRAP="127.0.0.1:$hostile_port" cargo test -q -p kafka-spec-reference \
    --test hostile_requests the_same_frames -- --nocapture
# The idempotence rules the reference is tested with (reference/tests/idempotence.rs), sent to
# the same real Kafka: each answer must be the table's.
KAFKA_SPEC_BOOTSTRAP="127.0.0.1:$hostile_port" cargo test -q -p kafka-spec-reference \
    --test idempotence against_a_bootstrap -- --nocapture
# The transaction coordinator's answers (reference/tests/transactions.rs): FindCoordinator
# key type 1, InitProducerId and fencing, AddPartitionsToTxn, EndTxn, Describe/ListTransactions.
KAFKA_SPEC_BOOTSTRAP="127.0.0.1:$hostile_port" cargo test -q -p kafka-spec-reference \
    --test transactions against_a_bootstrap -- --nocapture
bash ci/kafka/stop.sh --dir "$hostile_dir"

expect_failure() {
    local name="$1" seconds="$2" pattern="$3" rc=0 took
    shift 3
    local t0=$SECONDS
    timeout "$seconds" "$@" >"$work/out" 2>"$work/err" || rc=$?
    took=$((SECONDS - t0))
    if [[ $rc -eq 0 ]]; then
        echo "bad input '$name': exited 0, expected a failure" >&2
        cat "$work/out" "$work/err" >&2
        return 1
    fi
    if [[ $rc -eq 124 ]]; then
        echo "bad input '$name': still running after ${seconds}s" >&2
        return 1
    fi
    if ! grep -q -- "$pattern" "$work/err"; then
        echo "bad input '$name': stderr does not say '$pattern':" >&2
        cat "$work/err" >&2
        return 1
    fi
    echo "bad input '$name': exit $rc after ${took}s: $(grep -m1 -- "$pattern" "$work/err")"
}

# Port 1 (tcpmux) on loopback: nothing listens there.
expect_failure "nothing listening" 30 "no Kafka broker answers at 127.0.0.1:1" \
    "$bin" check --bootstrap 127.0.0.1:1
expect_failure "no java" 30 "apt-get install openjdk-17-jre-headless" \
    env JAVA_HOME= PATH=/nonexistent "$bin" check --target kafka-local
expect_failure "never ready" 120 "did not start" \
    env KAFKA_SPEC_KAFKA_STARTUP_TIMEOUT_S=1 "$bin" check --target kafka-local
if pgrep -f "$work/kafka-spec-kafka-" >/dev/null; then
    echo "a Kafka process outlived its kafka-spec run:" >&2
    pgrep -af "$work/kafka-spec-kafka-" >&2
    exit 1
fi
echo "kafka-diff: differential run, hostile frames on real Kafka and 3 bad-input checks passed"
