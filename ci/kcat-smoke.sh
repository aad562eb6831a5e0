#!/usr/bin/env bash
# Smoke test of `kafka-spec serve` with a client nobody here wrote: kcat (librdkafka).
#
# 1. For each compression codec (none, gzip, snappy, lz4, zstd): produce N keyed messages
#    with acks=all into a topic of its own, consume them back from the beginning, and
#    compare exactly: every key:value once, each key on one partition, offsets 0.. without
#    gaps per partition, and the order within each partition the order they were sent in.
#    `kcat -L` must list the topic with its partitions.
# 2. SIGTERM stops the broker with exit status 0 within a deadline, and the temporary
#    directory it made (if any) is gone afterwards.
# 3. Restart: `serve --data-dir DIR` (3 partitions per topic), produce, SIGTERM, start again on the same DIR: the same
#    messages come back at the same offsets, and the next message appended gets the next offset.
# 4. Three brokers: `serve --brokers 3` with replication factor 3 and min.insync.replicas 2:
#    `kcat -L` lists 3 brokers and the topic's partition with a leader and 3 in-sync replicas,
#    500 messages produced with acks=all come back exactly, SIGTERM ends it with status 0.
#
# Every wait has a deadline. On failure the broker's stderr is printed and the exit status
# is non-zero.
#
# Environment:
#   KAFKA_SPEC_BIN           the kafka-spec binary (default: `cargo build -p kafka-spec`,
#                            then target/debug/kafka-spec, the profile `cargo test` builds)
#   KCAT_SMOKE_MESSAGES      messages per topic (default 1000; 500 on the 3-broker cluster)
#   KCAT_SMOKE_SERVE_ARGS    extra arguments for every `kafka-spec serve` (word-split)
#   KCAT_SMOKE_KEEP_WORKDIR  set to 1 to keep the scratch directory for inspection
set -euo pipefail
shopt -s inherit_errexit

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
messages="${KCAT_SMOKE_MESSAGES:-1000}"
cluster_messages="${KCAT_SMOKE_MESSAGES:-500}"
startup_deadline_s=30
stop_deadline_s=15
kcat_deadline_s=60
codecs=(none gzip snappy lz4 zstd)

read -r -a extra_serve_args <<<"${KCAT_SMOKE_SERVE_ARGS:-}"

work="$(mktemp -d "${TMPDIR:-/tmp}/kcat-smoke.XXXXXX")"
broker_pid=""
broker_name=""
passed=0
failed=0

log() { printf 'kcat-smoke: %s\n' "$*" >&2; }

# Prints the last lines of every broker log and kcat error file seen so far.
dump_logs() {
    local f
    for f in "$work"/*.stderr "$work"/*.stdout "$work"/*.kcat-err; do
        [[ -s "$f" ]] || continue
        printf '\n----- %s (last 200 lines) -----\n' "${f#"$work"/}" >&2
        tail -n 200 "$f" >&2
    done
}

on_exit() {
    local rc=$?
    if [[ -n "$broker_pid" ]] && kill -0 "$broker_pid" 2>/dev/null; then
        # Still running after a failure: ask politely, then insist.
        kill -TERM "$broker_pid" 2>/dev/null || true
        local deadline=$((SECONDS + 5))
        while kill -0 "$broker_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 ]]; then
        dump_logs
        log "FAILED (exit $rc); $passed checks passed before the failure"
    fi
    if [[ "${KCAT_SMOKE_KEEP_WORKDIR:-0}" == 1 || $rc -ne 0 ]]; then
        log "scratch directory kept: $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap on_exit EXIT

fail() {
    log "FAIL: $*"
    failed=$((failed + 1))
    exit 1
}

pass() {
    log "ok: $*"
    passed=$((passed + 1))
}

require() {
    command -v "$1" >/dev/null 2>&1 || fail "'$1' is not on PATH ($2)"
}

require kcat "install it: apt-get install kcat"
require timeout "coreutils"
require awk "awk"

# ---------------------------------------------------------------------------------------
# The binary: the debug build that `cargo test --workspace` already made, so CI builds once.
if [[ -z "${KAFKA_SPEC_BIN:-}" ]]; then
    require cargo "Rust toolchain"
    log "building: cargo build -p kafka-spec"
    (cd "$root" && cargo build -p kafka-spec) || fail "cargo build -p kafka-spec"
    KAFKA_SPEC_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/kafka-spec"
fi
[[ -x "$KAFKA_SPEC_BIN" ]] || fail "no executable at $KAFKA_SPEC_BIN"
log "binary: $KAFKA_SPEC_BIN"
log "kcat: $(kcat -V 2>&1 | grep -m1 '^Version' || echo unknown)"

# ---------------------------------------------------------------------------------------
# Broker lifecycle.

# start_broker NAME [serve args...]: starts `kafka-spec serve --port 0 ARGS` with its own
# empty TMPDIR (so a temp dir it makes can be found again), waits for the bootstrap line and
# sets `bootstrap` (`127.0.0.1:<port>`, comma-separated with `--brokers N`: one per broker).
start_broker() {
    broker_name="$1"
    shift
    local out="$work/$broker_name.stdout" err="$work/$broker_name.stderr"
    local tmp="$work/$broker_name.tmpdir"
    mkdir -p "$tmp"
    : >"$out"
    : >"$err"
    log "starting broker '$broker_name': serve --port 0 $* ${extra_serve_args[*]}"
    NO_COLOR=1 TMPDIR="$tmp" "$KAFKA_SPEC_BIN" serve --port 0 "$@" "${extra_serve_args[@]}" \
        >"$out" 2>"$err" </dev/null &
    broker_pid=$!

    local deadline=$((SECONDS + startup_deadline_s)) line="" rc
    while :; do
        line="$(grep -m1 -E '^bootstrap: 127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+)*$' "$out" || true)"
        [[ -n "$line" ]] && break
        if ! kill -0 "$broker_pid" 2>/dev/null; then
            wait "$broker_pid" && rc=0 || rc=$?
            broker_pid=""
            fail "broker '$broker_name' exited (status $rc) before printing 'bootstrap: 127.0.0.1:<port>'"
        fi
        ((SECONDS < deadline)) || fail "no 'bootstrap: 127.0.0.1:<port>' line on stdout within ${startup_deadline_s}s"
        sleep 0.1
    done
    bootstrap="${line#bootstrap: }"
    local lines
    lines="$(wc -l <"$out")"
    [[ "$lines" -eq 1 ]] || fail "serve printed $lines lines on stdout, expected the single bootstrap line"
    pass "broker '$broker_name' up at $bootstrap"
}

# stop_broker: SIGTERM, then the broker must exit with status 0 within the deadline.
stop_broker() {
    local pid="$broker_pid" deadline=$((SECONDS + stop_deadline_s)) rc
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            broker_pid=""
            fail "broker '$broker_name' still running ${stop_deadline_s}s after SIGTERM (killed)"
        fi
        sleep 0.1
    done
    wait "$pid" && rc=0 || rc=$?
    broker_pid=""
    [[ $rc -eq 0 ]] || fail "broker '$broker_name' exited with status $rc after SIGTERM, expected 0"
    pass "broker '$broker_name' exited 0 after SIGTERM"
}

# stop_broker_without_leftovers: stop_broker, then whatever the broker had made under its own
# TMPDIR (its temporary data dir, without --data-dir) must be gone. Skipped with a message if
# it made nothing there.
stop_broker_without_leftovers() {
    local tmp="$work/$broker_name.tmpdir" made left
    made="$(find "$tmp" -mindepth 1 -maxdepth 1 | sed -n 1,5p)"
    stop_broker
    if [[ -z "$made" ]]; then
        log "skip: temp dir check: the broker made nothing under its TMPDIR while running (in-memory storage?)"
        return
    fi
    left="$(find "$tmp" -mindepth 1 -maxdepth 1)"
    [[ -z "$left" ]] || fail "after SIGTERM without --keep, the broker left behind: $left"
    pass "temp dir removed on exit (was: ${made//$'\n'/ })"
}

# ---------------------------------------------------------------------------------------
# kcat helpers. Every call has a deadline and keeps its stderr in $work/<name>.kcat-err.

kcat_run() {
    local name="$1"
    shift
    timeout --kill-after=5 "$kcat_deadline_s" kcat -b "$bootstrap" -m 10 "$@" 2>"$work/$name.kcat-err"
}

# produce NAME TOPIC CODEC < lines "key:value"
produce() {
    local name="$1" topic="$2" codec="$3" rc
    kcat_run "$name" -P -t "$topic" -K: -z "$codec" \
        -X topic.request.required.acks=all -X topic.message.timeout.ms=30000 && rc=0 || rc=$?
    [[ $rc -eq 0 ]] || fail "kcat -P (topic $topic, -z $codec) exited $rc: $(tr '\n' ' ' <"$work/$name.kcat-err")"
    # kcat reports failed deliveries on stderr; any is a failure even when it exits 0.
    if grep -q -E 'Delivery failed|% ERROR' "$work/$name.kcat-err"; then
        fail "kcat -P (topic $topic, -z $codec) reported: $(tr '\n' ' ' <"$work/$name.kcat-err")"
    fi
}

# consume NAME TOPIC: every message from the beginning as "partition<TAB>offset<TAB>key<TAB>value",
# sorted by partition and offset.
consume() {
    local name="$1" topic="$2" rc
    kcat_run "$name" -C -t "$topic" -o beginning -e -f '%p\t%o\t%k\t%s\n' \
        >"$work/$name.raw" && rc=0 || rc=$?
    [[ $rc -eq 0 ]] || fail "kcat -C (topic $topic) exited $rc: $(tr '\n' ' ' <"$work/$name.kcat-err")"
    sort -t "$(printf '\t')" -k1,1n -k2,2n "$work/$name.raw"
}

# partitions_listed NAME TOPIC: the partition count `kcat -L -t TOPIC` reports.
partitions_listed() {
    local name="$1" topic="$2" rc count ids
    kcat_run "$name" -L -t "$topic" >"$work/$name.metadata" && rc=0 || rc=$?
    [[ $rc -eq 0 ]] || fail "kcat -L -t $topic exited $rc: $(tr '\n' ' ' <"$work/$name.kcat-err")"
    count="$(sed -n -E "s/^ *topic \"$topic\" with ([0-9]+) partitions:.*/\\1/p" "$work/$name.metadata")"
    [[ -n "$count" ]] || fail "kcat -L does not list topic $topic: $(cat "$work/$name.metadata")"
    ids="$(sed -n -E 's/^ *partition ([0-9]+), leader .*/\1/p' "$work/$name.metadata" | sort -n | tr '\n' ' ')"
    [[ "$ids" == "$(seq -s ' ' 0 $((count - 1))) " ]] ||
        fail "kcat -L: topic $topic claims $count partitions but lists partition ids '$ids': $(cat "$work/$name.metadata")"
    grep -q -E '^ *partition [0-9]+, leader -1' "$work/$name.metadata" &&
        fail "kcat -L: topic $topic has a partition without a leader: $(cat "$work/$name.metadata")"
    echo "$count"
}

# make_input TAG [N]: N messages (default $messages): keys reused across messages (10 keys),
# values carry their send sequence.
make_input() {
    awk -v n="${2:-$messages}" -v tag="$1" 'BEGIN {
        pad = "the quick brown fox jumps over the lazy dog";
        for (i = 0; i < n; i++) printf "key-%d:%s-value-%06d-%s\n", i % 10, tag, i, pad;
    }'
}

# check_consumed INPUT SORTED_CONSUMED PARTITIONS: the exact comparison described above.
check_consumed() {
    local input="$1" consumed="$2" partitions="$3" what="$4"
    local got want
    got="$(wc -l <"$consumed")"
    want="$(wc -l <"$input")"
    [[ "$got" -eq "$want" ]] || fail "$what: consumed $got messages, produced $want"
    # Same key:value lines, each exactly once.
    if ! diff <(sort "$input") <(awk -F '\t' '{ print $3 ":" $4 }' "$consumed" | sort) \
        >"$work/diff.txt"; then
        fail "$what: consumed messages differ from produced ones: $(head -20 "$work/diff.txt")"
    fi
    # Per partition: offsets 0.. without gaps, send order kept, one partition per key,
    # partition ids inside the topic. Values carry the send sequence as their 3rd '-' field.
    local problems
    problems="$(awk -F '\t' -v parts="$partitions" '
        {
            p = $1; o = $2; k = $3; split($4, v, "-"); seq = v[3] + 0;
            if (p < 0 || p >= parts) { print "partition " p " outside 0.." parts - 1; exit }
            if (!(p in next_off)) next_off[p] = 0;
            if (o != next_off[p]) { print "partition " p ": offset " o ", expected " next_off[p]; exit }
            next_off[p] = o + 1;
            if ((p in last_seq) && seq <= last_seq[p]) {
                print "partition " p ": message " seq " after " last_seq[p] " (order not kept)"; exit
            }
            last_seq[p] = seq;
            if ((k in key_part) && key_part[k] != p) {
                print "key " k " on partitions " key_part[k] " and " p; exit
            }
            key_part[k] = p;
        }' "$consumed")"
    [[ -z "$problems" ]] || fail "$what: $problems"
}

# ---------------------------------------------------------------------------------------
# 1 + 2: every codec on one broker without a data dir, then SIGTERM.

start_broker ephemeral
for codec in "${codecs[@]}"; do
    topic="smoke-$codec"
    make_input "$codec" >"$work/$topic.input"
    produce "produce-$codec" "$topic" "$codec" <"$work/$topic.input"
    partitions="$(partitions_listed "list-$codec" "$topic")"
    consume "consume-$codec" "$topic" >"$work/$topic.consumed"
    check_consumed "$work/$topic.input" "$work/$topic.consumed" "$partitions" "$topic"
    pass "$topic: $messages messages (-z $codec, acks=all) consumed back exactly, $partitions partition(s) listed"
done

# Keep the topic list for the report.
kcat_run list-all -L >"$work/list-all.metadata" || fail "kcat -L exited non-zero"
for codec in "${codecs[@]}"; do
    grep -q "topic \"smoke-$codec\"" "$work/list-all.metadata" ||
        fail "kcat -L (all topics) does not list smoke-$codec: $(cat "$work/list-all.metadata")"
done
pass "kcat -L lists all ${#codecs[@]} topics"

stop_broker_without_leftovers

# ---------------------------------------------------------------------------------------
# 3: restart on the same --data-dir.

data_dir="$work/data"
mkdir -p "$data_dir"
topic=smoke-restart
make_input restart >"$work/$topic.input"

# Three partitions here, so that recovery is checked for more than one partition log.
start_broker durable-1 --data-dir "$data_dir" --config num.partitions=3
produce produce-restart "$topic" none <"$work/$topic.input"
partitions="$(partitions_listed list-restart-1 "$topic")"
consume consume-before "$topic" >"$work/$topic.before"
check_consumed "$work/$topic.input" "$work/$topic.before" "$partitions" "$topic before restart"
stop_broker

start_broker durable-2 --data-dir "$data_dir" --config num.partitions=3
partitions_after="$(partitions_listed list-restart-2 "$topic")"
[[ "$partitions_after" -eq "$partitions" ]] ||
    fail "$topic: $partitions partitions before restart, $partitions_after after"
consume consume-after "$topic" >"$work/$topic.after"
if ! diff "$work/$topic.before" "$work/$topic.after" >"$work/diff.txt"; then
    fail "$topic: messages or offsets differ after restart: $(head -20 "$work/diff.txt")"
fi
pass "$topic: after restart on the same --data-dir, the same $messages messages at the same offsets"

# One more message: appended at the log end offset its partition had before the restart.
printf 'key-0:restart-value-%06d-after-restart\n' "$messages" >"$work/$topic.more"
produce produce-more "$topic" none <"$work/$topic.more"
consume consume-more "$topic" >"$work/$topic.more-consumed"
cat "$work/$topic.input" "$work/$topic.more" >"$work/$topic.all"
check_consumed "$work/$topic.all" "$work/$topic.more-consumed" "$partitions" "$topic after one more message"
pass "$topic: a message produced after restart gets the next offset"
stop_broker

# ---------------------------------------------------------------------------------------
# 4: three brokers, every partition on all three, acks=all needing two of them.

topic=smoke-cluster
start_broker cluster --brokers 3 --config num.partitions=3 \
    --config default.replication.factor=3 --config min.insync.replicas=2
make_input cluster "$cluster_messages" >"$work/$topic.input"
produce produce-cluster "$topic" none <"$work/$topic.input"
partitions="$(partitions_listed list-cluster "$topic")"
metadata="$work/list-cluster.metadata"
brokers_listed="$(sed -n -E 's/^ *([0-9]+) brokers:$/\1/p' "$metadata")"
broker_lines="$(grep -c -E '^ *broker [0-9]+ at 127\.0\.0\.1:[0-9]+' "$metadata" || true)"
[[ "$brokers_listed" == 3 && "$broker_lines" == 3 ]] ||
    fail "kcat -L: expected 3 brokers, got '$brokers_listed' ($broker_lines listed): $(cat "$metadata")"
pass "kcat -L lists 3 brokers"
# Every partition: a leader among its replicas, 3 replicas, at least min.insync.replicas in sync.
problems="$(awk '
    /^ *partition [0-9]+, leader / {
        line = $0; gsub(/,/, " ", line); n = split(line, f, " ");
        leader = f[4]; replicas = ""; isrs = "";
        for (i = 5; i <= n; i++) {
            if (f[i] == "replicas:") { mode = "r"; continue }
            if (f[i] == "isrs:") { mode = "i"; continue }
            if (mode == "r") replicas = replicas " " f[i]; else if (mode == "i") isrs = isrs " " f[i];
        }
        nr = split(replicas, r, " "); ni = split(isrs, s, " ");
        lead_in = 0; for (j = 1; j <= ni; j++) if (s[j] == leader) lead_in = 1;
        if (nr != 3 || ni < 2 || !lead_in) print $0;
    }' "$metadata")"
[[ -z "$problems" ]] ||
    fail "kcat -L: partitions of $topic not led by an in-sync replica of 3 with >= 2 in sync: $problems"
pass "$topic: $partitions partition(s), each led by one of its 3 replicas, >= 2 in sync"
consume consume-cluster "$topic" >"$work/$topic.consumed"
check_consumed "$work/$topic.input" "$work/$topic.consumed" "$partitions" "$topic"
pass "$topic: $cluster_messages messages (acks=all, min.insync.replicas=2) consumed back exactly from 3 brokers"
stop_broker_without_leftovers

printf 'kcat-smoke: %d passed, %d failed\n' "$passed" "$failed"
