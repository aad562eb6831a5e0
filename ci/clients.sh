#!/usr/bin/env bash
# Real clients' DEFAULT producers against a broker: do they deliver? (issue 11)
#
# Usage:
#   bash ci/clients.sh --bootstrap HOST:PORT [--replication-factor N] [--only WHICH]
#   bash ci/clients.sh --targets reference,reference:3,kafka[,kafka:3] [--only WHICH] [--base-port P]
#     --only        idempotent | transactional | groups | all (default all)
#     --targets     started here, one after the other, and stopped when their checks end:
#                   reference    `kafka-spec serve --port P`
#                   reference:3  `kafka-spec serve --brokers 3 --port P+1` (ports P+1..P+3)
#                   kafka        real Apache Kafka, `ci/kafka/start.sh --nodes 1 --base-port P+10`
#                   kafka:3      real Apache Kafka, 3 nodes, `--base-port P+20`
#     --base-port   P above (default 24090; CLIENTS_BASE_PORT)
#     --replication-factor  of the topics made with --bootstrap (default 1); with --targets
#                   it is 1 on one broker, 3 on three
#
# Checks. Each makes a fresh topic of 3 partitions (TopicCommand), sends N=100 keyed records
# (10 keys) with the client's DEFAULT producer settings (only bootstrap servers, serializers
# and, for the transactional ones, transactional.id are set: no idempotence, acks or retries
# override), reads the topic back with the same client and verifies (ci/clients/verify.awk)
# exactly those records: each once, with its key, each key on one partition, the send order
# kept within each partition.
#   idempotent:
#     java-default          ci/clients/DefaultProducer.java: `new KafkaProducer<>(props)`, read
#                           back by a KafkaConsumer; offsets 0.. without gaps, nothing else in
#                           the log (end offsets).
#     console-producer      org.apache.kafka.tools.ConsoleProducer with the tool's defaults, 100
#                           "key<TAB>value" lines on stdin (reader property parse.key=true);
#                           read back by org.apache.kafka.tools.consumer.ConsoleConsumer
#                           --from-beginning --max-messages 100, end offsets by GetOffsetShell.
#     kafka-python-default  kafka-python's KafkaProducer(bootstrap_servers=...) (idempotent by
#                           default in 3.x), read back by its KafkaConsumer.
#   transactional:
#     java-transactional    the Java producer with transactional.id: initTransactions, 50
#                           records committed, 50 aborted; a read_committed consumer must see
#                           exactly the 50 committed, a read_uncommitted one all 100, and the
#                           offsets must leave exactly one gap (the marker) after each
#                           transaction in each partition (printed).
#     librdkafka-transactional  the same with confluent-kafka's librdkafka.
#   groups:
#     java-consumer-group   ci/clients/GroupConsumers.java with group.protocol=consumer
#                           (KIP-848): two KafkaConsumers of one group split the partitions,
#                           read the default producer's records once between them and commit;
#                           one closes and the other must get every partition; the group's
#                           committed offsets must be the end offsets.
#     java-classic-group    the same with group.protocol=classic (JoinGroup/SyncGroup).
#     java-group-migration  a rolling upgrade: the first consumer is classic and holds every
#                           partition, then a group.protocol=consumer one joins the live group
#                           (KIP-848's online upgrade); the same checks follow.
#
# Prints a table target x check (pass/FAIL), then per cell what was seen: on failure the
# check's own error and the client's own first error log line. Exit status 1 if any check
# fails on any target (or a target does not start), 2 on bad usage.
#
# Needs: Java 17+ with its compiler (java runs DefaultProducer.java as a source file), Kafka's
# jars (ci/kafka/fetch.sh, run when missing), and for the Python checks a venv with the pins
# of ci/clients/requirements.txt, made once in ${XDG_CACHE_HOME:-$HOME/.cache}/kafka-spec/venv
# (CLIENTS_VENV) and remade when the pins change. Missing Debian packages (python3-venv,
# openjdk-17-jdk-headless) are installed as .ci/run does (root or sudo -n).
#
# Environment:
#   KAFKA_SPEC_BIN         the kafka-spec binary (default: `cargo build -p kafka-spec`, then
#                          target/debug/kafka-spec, the build `cargo test` makes)
#   CLIENTS_RECORDS        records per check (default 100; even)
#   CLIENTS_DEADLINE_S     each client program's own deadline (default 60)
#   CLIENTS_KEEP_WORKDIR   1: keep the scratch directory (kept anyway when a check fails)
#   CLIENTS_KNOWN_FAILURES space-separated TARGET/CHECK cells (e.g.
#                          reference:3/java-transactional) of known reference bugs: they
#                          run and show pass or KNOWN-FAIL, but do not fail the run
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/ci/clients"
records="${CLIENTS_RECORDS:-100}"
deadline_s="${CLIENTS_DEADLINE_S:-60}"
partitions=3
startup_deadline_s=30

idempotent_checks=(java-default console-producer kafka-python-default)
transactional_checks=(java-transactional librdkafka-transactional)
group_checks=(java-consumer-group java-classic-group java-group-migration)

log() { printf 'clients: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-2}"
}

# ---------------------------------------------------------------------------------------
# Arguments.

bootstrap_arg="" targets_arg="" only=all base_port="${CLIENTS_BASE_PORT:-24090}" rf_arg=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bootstrap) bootstrap_arg="${2:?--bootstrap needs HOST:PORT}"; shift 2 ;;
        --targets) targets_arg="${2:?--targets needs a list}"; shift 2 ;;
        --only) only="${2:?--only needs idempotent, transactional, groups or all}"; shift 2 ;;
        --base-port) base_port="${2:?--base-port needs a port}"; shift 2 ;;
        --replication-factor) rf_arg="${2:?--replication-factor needs a number}"; shift 2 ;;
        -h | --help) usage 0 ;;
        *) log "unknown argument '$1'"; usage 2 ;;
    esac
done
if [[ -n "$bootstrap_arg" && -n "$targets_arg" ]] || [[ -z "$bootstrap_arg" && -z "$targets_arg" ]]; then
    log "give exactly one of --bootstrap HOST:PORT and --targets LIST"
    usage 2
fi
case "$only" in
    idempotent) checks=("${idempotent_checks[@]}") ;;
    transactional) checks=("${transactional_checks[@]}") ;;
    groups) checks=("${group_checks[@]}") ;;
    all) checks=("${idempotent_checks[@]}" "${transactional_checks[@]}" "${group_checks[@]}") ;;
    *) log "--only takes idempotent, transactional, groups or all (got '$only')"; usage 2 ;;
esac
[[ "$base_port" =~ ^[0-9]+$ && "$base_port" -ge 1024 && "$base_port" -le 65000 ]] || die "--base-port: 1024..65000 (got '$base_port')"
[[ "$rf_arg" =~ ^[1-9][0-9]*$ ]] || die "--replication-factor: a positive number (got '$rf_arg')"
[[ "$records" =~ ^[0-9]+$ && "$records" -ge 2 && $((records % 2)) -eq 0 ]] || die "CLIENTS_RECORDS: an even number >= 2 (got '$records')"
[[ "$deadline_s" =~ ^[0-9]+$ && "$deadline_s" -ge 5 ]] || die "CLIENTS_DEADLINE_S: seconds >= 5 (got '$deadline_s')"

targets=()
if [[ -n "$targets_arg" ]]; then
    IFS=, read -r -a targets <<<"$targets_arg"
    for t in "${targets[@]}"; do
        case "$t" in
            reference | reference:3 | kafka | kafka:3) ;;
            *) die "unknown target '$t' (reference, reference:3, kafka, kafka:3)" ;;
        esac
    done
else
    targets=("$bootstrap_arg")
fi

wants_python=0
for c in "${checks[@]}"; do
    if [[ "$c" == kafka-python-default || "$c" == librdkafka-transactional ]]; then wants_python=1; fi
done

# ---------------------------------------------------------------------------------------
# Scratch space and clean-up: every target this script started is stopped on exit.

work="$(mktemp -d "${TMPDIR:-/tmp}/kafka-spec-clients.XXXXXX")"
ref_pid=""
kafka_dir=""
any_failed=0

stop_reference() {
    [[ -n "$ref_pid" ]] || return 0
    local pid="$ref_pid" deadline=$((SECONDS + 15))
    ref_pid=""
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "reference (pid $pid) still running 15 s after SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

stop_kafka() {
    [[ -n "$kafka_dir" ]] || return 0
    local dir="$kafka_dir"
    kafka_dir=""
    bash "$root/ci/kafka/stop.sh" --dir "$dir" >>"$dir.stop.log" 2>&1 ||
        log "ci/kafka/stop.sh --dir $dir failed: $(tail -n 3 "$dir.stop.log" | tr '\n' ' ')"
}

on_exit() {
    local rc=$?
    stop_reference
    stop_kafka
    if [[ "${CLIENTS_KEEP_WORKDIR:-0}" == 1 || $rc -ne 0 || $any_failed -ne 0 ]]; then
        log "scratch directory kept: $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------
# Prerequisites: a verifier that can fail, Java with its compiler, Kafka's jars, the venv,
# the reference binary.

bash "$here/verify-selftest.sh" >&2 || die "ci/clients/verify-selftest.sh failed: verify.awk cannot be trusted"

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        log "need root to run: $*"
        return 1
    fi
}

apt_updated=0
apt_install() {
    log "installing Debian packages: $*"
    if [[ $apt_updated -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive as_root apt-get update -q >&2
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "$@" >&2
}

# JAVA and KAFKA_LIBS exactly as ci/kafka/ finds them (java >= 17 or a message saying how).
eval "$(bash -c '. "$1/lib.sh" && find_java && printf "JAVA=%q\nKAFKA_LIBS=%q\n" "$JAVA" "$KAFKA_LIBS"' _ "$root/ci/kafka")"
[[ -n "${JAVA:-}" && -n "${KAFKA_LIBS:-}" ]] || die "could not find java or the Kafka jar cache through ci/kafka/lib.sh"
# The source-file launcher needs the compiler module (a JDK, not a bare JRE).
if ! "$JAVA" --list-modules 2>/dev/null | grep -q '^jdk\.compiler@'; then
    apt_install openjdk-17-jdk-headless || die "$JAVA has no jdk.compiler module and openjdk-17-jdk-headless did not install"
    if [[ -z "${JAVA_HOME:-}" ]]; then JAVA="$(command -v java)"; fi
    "$JAVA" --list-modules 2>/dev/null | grep -q '^jdk\.compiler@' ||
        die "$JAVA still has no jdk.compiler module: set JAVA_HOME to a JDK 17+"
fi
log "java: $("$JAVA" -version 2>&1 | sed -n 1p)"
bash "$root/ci/kafka/fetch.sh" >&2 || die "ci/kafka/fetch.sh failed"
[[ -s "$KAFKA_LIBS/kafka-clients-$(sed -n 1p "$KAFKA_LIBS/.complete" | cut -d' ' -f2).jar" ]] ||
    die "no kafka-clients jar in $KAFKA_LIBS"
JVM_OPTS=(-Xmx256m -Xms32m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$here/log4j2.xml")

venv="${CLIENTS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-spec/venv}"
requirements="$here/requirements.txt"
PY=""
venv_ok() {
    [[ -x "$venv/bin/python" ]] && cmp -s "$requirements" "$venv/.kafka-spec-requirements" &&
        "$venv/bin/python" -c 'import kafka, confluent_kafka' 2>/dev/null
}
make_venv() {
    local py="$1"
    rm -rf "$venv"
    "$py" -m venv "$venv" >&2
}
ensure_venv() {
    mkdir -p "$(dirname "$venv")"
    # One maker at a time: another run may be filling the same venv.
    exec 9>"$venv.lock"
    flock -w 600 9 || die "waited 10 min for the lock $venv.lock"
    if ! venv_ok; then
        log "making the venv $venv ($(tr '\n' ' ' <"$requirements"))"
        local py
        py="$(command -v python3 || true)"
        [[ -n "$py" ]] || { apt_install python3 python3-venv; py=/usr/bin/python3; }
        if ! make_venv "$py"; then
            # Debian's python3 makes venvs only with python3-venv (ensurepip).
            apt_install python3-venv || die "python3 -m venv failed and python3-venv did not install"
            make_venv /usr/bin/python3 || die "/usr/bin/python3 -m venv $venv failed after installing python3-venv"
        fi
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$venv/bin/python" -m pip install -q -r "$requirements" >&2 ||
            die "pip install -r $requirements into $venv failed"
        cp "$requirements" "$venv/.kafka-spec-requirements"
        venv_ok || die "the venv $venv does not import kafka and confluent_kafka after the install"
    fi
    exec 9>&-
    PY="$venv/bin/python"
    log "python clients: $("$PY" -c 'import importlib.metadata as m, confluent_kafka as c; print("kafka-python", m.version("kafka-python"), "| confluent-kafka", m.version("confluent-kafka"), "| librdkafka", c.libversion()[0])')"
}
if [[ $wants_python -eq 1 ]]; then ensure_venv; fi

needs_reference=0
for t in "${targets[@]}"; do if [[ "$t" == reference* ]]; then needs_reference=1; fi; done
if [[ $needs_reference -eq 1 && -z "${KAFKA_SPEC_BIN:-}" ]]; then
    command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH (or set KAFKA_SPEC_BIN)"
    log "building: cargo build -p kafka-spec"
    (cd "$root" && cargo build -p kafka-spec >&2) || die "cargo build -p kafka-spec failed"
    KAFKA_SPEC_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/kafka-spec"
fi
if [[ $needs_reference -eq 1 ]]; then
    [[ -x "$KAFKA_SPEC_BIN" ]] || die "no executable at $KAFKA_SPEC_BIN"
    log "reference binary: $KAFKA_SPEC_BIN"
fi

# ---------------------------------------------------------------------------------------
# Targets.

# start_target NAME: sets bootstrap and rf, or sets start_error to why not and returns 1.
start_target() {
    local name="$1" dir="$work/${1/:/-}"
    mkdir -p "$dir"
    case "$name" in
        reference | reference:3)
            local port=$base_port args=()
            if [[ "$name" == reference:3 ]]; then port=$((base_port + 1)); args=(--brokers 3); fi
            mkdir -p "$dir/tmp"
            log "starting $name: $KAFKA_SPEC_BIN serve ${args[*]} --port $port"
            NO_COLOR=1 TMPDIR="$dir/tmp" "$KAFKA_SPEC_BIN" serve "${args[@]}" --port "$port" \
                >"$dir/serve.stdout" 2>"$dir/serve.stderr" </dev/null &
            ref_pid=$!
            local deadline=$((SECONDS + startup_deadline_s)) line=""
            while :; do
                line="$(grep -m1 -E '^bootstrap: ' "$dir/serve.stdout" || true)"
                [[ -n "$line" ]] && break
                if ! kill -0 "$ref_pid" 2>/dev/null; then
                    wait "$ref_pid" 2>/dev/null || true
                    ref_pid=""
                    start_error="kafka-spec serve exited before printing its bootstrap line: $(tail -n 3 "$dir/serve.stderr" | tr '\n' ' ')"
                    return 1
                fi
                if ((SECONDS >= deadline)); then
                    start_error="kafka-spec serve printed no bootstrap line within ${startup_deadline_s}s"
                    return 1
                fi
                sleep 0.1
            done
            bootstrap="${line#bootstrap: }"
            rf=1
            [[ "$name" == reference:3 ]] && rf=3
            ;;
        kafka | kafka:3)
            local nodes=1 port=$((base_port + 10))
            if [[ "$name" == kafka:3 ]]; then nodes=3; port=$((base_port + 20)); fi
            kafka_dir="$dir/cluster"
            log "starting $name: ci/kafka/start.sh --nodes $nodes --base-port $port --dir $kafka_dir"
            if ! bash "$root/ci/kafka/start.sh" --nodes "$nodes" --base-port "$port" --dir "$kafka_dir" \
                --timeout 120 >"$dir/start.stdout" 2>"$dir/start.stderr"; then
                start_error="ci/kafka/start.sh failed: $(grep -m1 -E 'kafka-ci: ' "$dir/start.stderr" || tail -n 1 "$dir/start.stderr")"
                return 1
            fi
            bootstrap="$(sed -n 's/^bootstrap: //p' "$dir/start.stdout")"
            [[ -n "$bootstrap" ]] || { start_error="ci/kafka/start.sh printed no bootstrap line"; return 1; }
            rf=$nodes
            ;;
        *)
            bootstrap="$name"
            rf=$rf_arg
            ;;
    esac
    log "$name: bootstrap $bootstrap, topics with $partitions partitions, replication factor $rf"
}

stop_target() {
    stop_reference
    stop_kafka
}

# ---------------------------------------------------------------------------------------
# Checks. Each runs in a subshell with errexit, in its own directory $cdir; `fail TEXT`
# records why and ends it. Whatever a check leaves in $cdir/summary is shown when it passes.

fail() {
    printf '%s\n' "$*" >"$cdir/reason"
    exit 1
}

# The client's own first error log line (else its first warning) in FILE..., with the
# exception line right under it when there is one (Java's log), trimmed.
client_log_line() {
    local line
    line="$(awk -v re='\\] ERROR |^ERROR |^%[0-3]\\|' '
        found { if ($0 ~ /^[A-Za-z][A-Za-z0-9_.$]*(Exception|Error)(: |$)/) printf " / %s", $0; exit }
        $0 ~ re { printf "%s", $0; found = 1 }' "$@" 2>/dev/null || true)"
    [[ -n "$line" ]] || line="$(grep -h -m1 -E '\] WARN |^WARNING |^%4\||^[A-Za-z.]*(Exception|Error): ' "$@" 2>/dev/null || true)"
    printf '%s' "${line:0:500}"
}

# with_log TEXT FILE...: TEXT, and the client's own log line if there is one.
with_log() {
    local text="$1" line
    shift
    line="$(client_log_line "$@")"
    if [[ -n "$line" ]]; then printf '%s | client log: %s' "$text" "$line"; else printf '%s' "$text"; fi
}

# make_expected TAG: "seq<TAB>key<TAB>value<TAB>txn", first half "c", second "a" (the
# transactional checks); the idempotent checks ignore the txn column.
make_expected() {
    awk -v n="$records" -v tag="$1" 'BEGIN {
        for (i = 0; i < n; i++) printf "%d\tkey-%d\t%s-value-%06d\t%s\n", i, i % 10, tag, i, (i < n / 2 ? "c" : "a");
    }'
}

create_topic() {
    timeout --kill-after=5 90 bash "$root/ci/kafka/run-class.sh" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$bootstrap" --create --topic "$topic" \
        --partitions "$partitions" --replication-factor "$rf" \
        >"$cdir/create.stdout" 2>"$cdir/create.stderr" ||
        fail "$(with_log "TopicCommand --create --topic $topic --partitions $partitions --replication-factor $rf exited non-zero" "$cdir/create.stderr" "$cdir/create.stdout")"
}

# verify NAME ARGS...: ci/clients/verify.awk; appends its summary to $cdir/summary.
verify() {
    local name="$1" out
    shift
    if out="$(awk -F '\t' "$@" 2>&1)"; then
        printf '%s: %s\n' "$name" "${out#ok	}" >>"$cdir/summary"
    else
        fail "$name: $(printf '%s' "$out" | tr '\n' ' ')"
    fi
}

# run_program NAME COMMAND...: runs a client program of ci/clients/ under a deadline; its
# stdout in $cdir/NAME.stdout, stderr in $cdir/NAME.stderr; fails on an `error` line or
# a non-zero exit.
run_program() {
    local name="$1" rc
    shift
    timeout --kill-after=5 $((deadline_s + 30)) "$@" >"$cdir/$name.stdout" 2>"$cdir/$name.stderr" </dev/null && rc=0 || rc=$?
    local err
    err="$(sed -n 's/^error\t//p' "$cdir/$name.stdout" | sed -n 1p)"
    if [[ -n "$err" ]]; then
        fail "$(with_log "$err" "$cdir/$name.stderr")"
    fi
    [[ $rc -ne 124 && $rc -ne 137 ]] || fail "$(with_log "$name: killed after $((deadline_s + 30))s" "$cdir/$name.stderr")"
    [[ $rc -eq 0 ]] || fail "$(with_log "$name exited $rc" "$cdir/$name.stderr")"
    sed -n 's/^info\t//p' "$cdir/$name.stdout" >>"$cdir/summary"
}

# split_output NAME: rec lines per isolation level and end offsets, sorted.
split_output() {
    local out="$cdir/$1.stdout" iso
    for iso in read_uncommitted read_committed; do
        awk -F '\t' -v iso="$iso" -v OFS='\t' '$1 == "rec" && $2 == iso { print $3, $4, $5, $6 }' "$out" |
            sort -t "$(printf '\t')" -k1,1n -k2,2n >"$cdir/$iso.records"
    done
    awk -F '\t' -v OFS='\t' '$1 == "end" { print $2, $3 }' "$out" | sort -n >"$cdir/ends"
    [[ -s "$cdir/ends" ]] || fail "$1 printed no end offsets"
}

verify_idempotent() {
    [[ -s "$cdir/read_uncommitted.records" ]] || fail "read no records back (0 of $records)"
    verify "read back" -v mode=records -v want=all -v contiguous=1 -f "$here/verify.awk" \
        "$cdir/expected" "$cdir/read_uncommitted.records" "$cdir/ends"
}

verify_transactional() {
    [[ -s "$cdir/read_committed.records" ]] || fail "read_committed consumer read no records (0 of $((records / 2)))"
    [[ -s "$cdir/read_uncommitted.records" ]] || fail "read_uncommitted consumer read no records (0 of $records)"
    verify read_committed -v mode=records -v want=c -v contiguous=0 -f "$here/verify.awk" \
        "$cdir/expected" "$cdir/read_committed.records"
    verify read_uncommitted -v mode=records -v want=all -v contiguous=0 -f "$here/verify.awk" \
        "$cdir/expected" "$cdir/read_uncommitted.records"
    verify markers -v mode=markers -f "$here/verify.awk" \
        "$cdir/expected" "$cdir/read_uncommitted.records" "$cdir/ends"
}


check_java_default() {
    create_topic
    run_program java "$JAVA" "${JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$here/DefaultProducer.java" default "$bootstrap" "$topic" "$cdir/input" "$deadline_s"
    java_producer_mode "$cdir/java.stderr" >>"$cdir/summary"
    split_output java
    verify_idempotent
}

check_java_transactional() {
    create_topic
    run_program java "$JAVA" "${JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$here/DefaultProducer.java" transactional "$bootstrap" "$topic" "$cdir/input" "$deadline_s"
    java_producer_mode "$cdir/java.stderr" >>"$cdir/summary"
    split_output java
    verify_transactional
}

check_java_group() {
    create_topic
    run_program java "$JAVA" "${JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$here/GroupConsumers.java" "$1" "$bootstrap" "$topic" "$cdir/input" "$deadline_s"
    split_output java
    verify_idempotent
}

check_java_consumer_group() { check_java_group consumer; }

check_java_classic_group() { check_java_group classic; }

check_java_group_migration() { check_java_group migration; }

check_kafka_python_default() {
    create_topic
    run_program python "$PY" "$here/py_clients.py" kafka-python-default "$bootstrap" "$topic" "$cdir/input" "$deadline_s"
    split_output python
    verify_idempotent
}

check_librdkafka_transactional() {
    create_topic
    run_program python "$PY" "$here/py_clients.py" librdkafka-transactional "$bootstrap" "$topic" "$cdir/input" "$deadline_s"
    split_output python
    verify_transactional
}

# java_producer_mode FILE: what the Java client's own log (ci/clients/log4j2.xml) says of the
# producer: idempotent or transactional, and the producer id it was given.
java_producer_mode() {
    local kind pid
    kind="$(grep -h -m1 -o -E 'Instantiated an? (idempotent|transactional) producer' "$1" | awk '{ print $NF == "producer" ? $(NF - 1) : $NF }' || true)"
    pid="$(grep -h -o -E 'ProducerId set to [0-9-]+ with epoch [0-9-]+' "$1" | sed -n '$s/ProducerId set to \([0-9-]*\) with epoch \([0-9-]*\)/producer id \1, epoch \2/p' || true)"
    printf 'Java client log: %s producer%s\n' "${kind:-neither idempotent nor transactional}" "${pid:+, $pid}"
}

check_console_producer() {
    create_topic
    local rc tool="$root/ci/kafka/run-class.sh"
    # What `ci/kafka/run-class.sh org.apache.kafka.tools.ConsoleProducer` runs, with the log
    # configuration that shows whether the producer is idempotent.
    timeout --kill-after=5 $((deadline_s + 30)) "$JAVA" "${JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" \
        org.apache.kafka.tools.ConsoleProducer \
        --bootstrap-server "$bootstrap" --topic "$topic" --reader-property parse.key=true \
        <"$cdir/input" >"$cdir/producer.stdout" 2>"$cdir/producer.stderr" && rc=0 || rc=$?
    # A failed send is logged (ErrorLoggingCallback): an ERROR line fails the check whatever
    # the exit status.
    if [[ $rc -ne 0 ]] || grep -q -E '\] ERROR ' "$cdir/producer.stderr"; then
        fail "$(with_log "ConsoleProducer exited $rc" "$cdir/producer.stderr")"
    fi
    printf 'ConsoleProducer: %s lines sent, exit 0, no error logged, %s\n' "$records" "$(java_producer_mode "$cdir/producer.stderr")" >>"$cdir/summary"
    timeout --kill-after=5 $((deadline_s + 30)) bash "$tool" org.apache.kafka.tools.consumer.ConsoleConsumer \
        --bootstrap-server "$bootstrap" --topic "$topic" --from-beginning --max-messages "$records" \
        --timeout-ms $((deadline_s * 1000 / 2)) \
        --formatter-property print.partition=true --formatter-property print.offset=true \
        --formatter-property print.key=true \
        >"$cdir/consumer.stdout" 2>"$cdir/consumer.stderr" </dev/null && rc=0 || rc=$?
    # "Partition:P<TAB>Offset:O<TAB>KEY<TAB>VALUE"
    awk -F '\t' -v OFS='\t' '$1 ~ /^Partition:[0-9]+$/ && $2 ~ /^Offset:[0-9]+$/ {
        sub(/^Partition:/, "", $1); sub(/^Offset:/, "", $2); print $1, $2, $3, $4 }' "$cdir/consumer.stdout" |
        sort -t "$(printf '\t')" -k1,1n -k2,2n >"$cdir/read_uncommitted.records"
    [[ $rc -eq 0 ]] || fail "$(with_log "ConsoleConsumer exited $rc after $(wc -l <"$cdir/read_uncommitted.records") of $records records" "$cdir/consumer.stderr")"
    # Nothing more than those in the log: the end offsets, "topic:partition:offset".
    timeout --kill-after=5 90 bash "$tool" org.apache.kafka.tools.GetOffsetShell \
        --bootstrap-server "$bootstrap" --topic "$topic" \
        >"$cdir/offsets.stdout" 2>"$cdir/offsets.stderr" ||
        fail "$(with_log "GetOffsetShell --topic $topic exited non-zero" "$cdir/offsets.stderr")"
    awk -F : -v t="$topic" -v OFS='\t' '$1 == t { print $2, $3 }' "$cdir/offsets.stdout" | sort -n >"$cdir/ends"
    [[ "$(wc -l <"$cdir/ends")" -eq "$partitions" ]] ||
        fail "GetOffsetShell listed $(wc -l <"$cdir/ends") partitions of $topic, expected $partitions: $(tr '\n' ' ' <"$cdir/offsets.stdout")"
    verify_idempotent
}

declare -A result detail
passed=0
failed=0
known=0
# CLIENTS_KNOWN_FAILURES: space-separated TARGET/CHECK cells of known reference bugs.
known_failures="${CLIENTS_KNOWN_FAILURES:-}"

record_result() {
    local target="$1" check="$2" verdict="$3" text="$4"
    result["$target|$check"]="$verdict"
    detail["$target|$check"]="$text"
    if [[ " $known_failures " == *" $target/$check "* ]]; then
        # A known reference bug, tracked in an issue: the check runs and its verdict is shown
        # (KNOWN-FAIL, or pass), but it does not fail the run.
        [[ "$verdict" == pass ]] && passed=$((passed + 1)) || verdict=KNOWN-FAIL
        known=$((known + 1))
    elif [[ "$verdict" == pass ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        any_failed=1
    fi
    log "$target / $check: $verdict${text:+: $text}"
}

run_check() {
    local target="$1" check="$2" started=$SECONDS rc
    cdir="$work/${target//[:\/]/-}/$check"
    mkdir -p "$cdir"
    topic="kafka-spec-clients-$check-$(date +%s)-$RANDOM"
    make_expected "$check" >"$cdir/expected"
    cut -f 2,3 "$cdir/expected" >"$cdir/input"
    : >"$cdir/summary"
    log "$target / $check: topic $topic"
    set +e
    (
        set -e
        "check_${check//-/_}"
    )
    rc=$?
    set -e
    local took=$((SECONDS - started))
    if [[ $rc -eq 0 ]]; then
        record_result "$target" "$check" pass "$(tr '\n' ';' <"$cdir/summary" | sed 's/;$//; s/;/; /g') (${took}s)"
    else
        local why="exit $rc"
        [[ -s "$cdir/reason" ]] && why="$(cat "$cdir/reason")"
        record_result "$target" "$check" FAIL "$why (${took}s; files: $cdir)"
    fi
}

# ---------------------------------------------------------------------------------------
# Run.

started_all=$SECONDS
for target in "${targets[@]}"; do
    start_error=""
    if start_target "$target"; then
        for check in "${checks[@]}"; do
            run_check "$target" "$check"
        done
    else
        log "$target did not start: $start_error"
        for check in "${checks[@]}"; do
            record_result "$target" "$check" FAIL "target did not start: $start_error (files: $work/${target//[:\/]/-})"
        done
    fi
    stop_target
done

# ---------------------------------------------------------------------------------------
# Report: the table, then what each cell saw.

{
    printf '\nclients: %d records per check, checks %s, in %ds\n\n' "$records" "$only" "$((SECONDS - started_all))"
    width=8
    for target in "${targets[@]}"; do ((${#target} > width)) && width=${#target}; done
    printf "%-${width}s" target
    for check in "${checks[@]}"; do printf '  %s' "$check"; done
    printf '\n'
    for target in "${targets[@]}"; do
        printf "%-${width}s" "$target"
        for check in "${checks[@]}"; do printf "  %-${#check}s" "${result["$target|$check"]}"; done
        printf '\n'
    done
    printf '\n'
    for target in "${targets[@]}"; do
        for check in "${checks[@]}"; do
            printf '%s / %s: %s\n    %s\n' "$target" "$check" "${result["$target|$check"]}" "${detail["$target|$check"]}"
        done
    done
    printf '\nclients: %d passed, %d failed; %d cell(s) of known bugs (CLIENTS_KNOWN_FAILURES: shown, never counted as failed)\n' "$passed" "$failed" "$known"
}
if ((failed > 0)); then exit 1; fi
