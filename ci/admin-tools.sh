#!/usr/bin/env bash
# Kafka's own command-line tools (4.3.1, from Maven Central: ci/kafka/fetch.sh) against the
# reference broker (1 and 3 brokers, `kafka-spec serve`) and against real Apache Kafka
# (ci/kafka/start.sh, 1 and 3 nodes): each section runs one tool's commands on every target,
# normalises what they print, and fails when the reference's output differs from Kafka's
# with the same number of brokers.
#
# Usage: ci/admin-tools.sh [SECTION...]     sections: configs (default: all)
# Env:   ADMIN_TOOLS_DIR (work dir, default a new /tmp/admin-tools.XXXXXX, kept on failure),
#        ADMIN_TOOLS_KAFKA_PORT (base port of real Kafka, default 29092; 3 nodes use +0..+2,
#        their controllers +100..), ADMIN_TOOLS_REFERENCE_PORT (default 29292),
#        CARGO_TARGET_DIR, and ci/kafka's (KAFKA_VERSION, KAFKA_CACHE_DIR, JAVA_HOME).
#
# Sections are independent functions `section_<name>`; each starts and stops its own targets
# and returns non-zero on a difference. Add one per tool.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_PORT="${ADMIN_TOOLS_KAFKA_PORT:-29092}"
REFERENCE_PORT="${ADMIN_TOOLS_REFERENCE_PORT:-29292}"
WORK="${ADMIN_TOOLS_DIR:-$(mktemp -d /tmp/admin-tools.XXXXXX)}"
mkdir -p "$WORK"
RUN_CLASS="$ROOT/ci/kafka/run-class.sh"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
REFERENCE_BIN="$TARGET_DIR/debug/kafka-spec"

log() { echo "admin-tools: $*" >&2; }

# ---------------------------------------------------------------------------------------
# Targets

# The static configs start.sh gives real Kafka that the reference also honours, so that
# both describe the same STATIC_BROKER_CONFIG entries.
reference_configs() {
  local nodes=$1 min_isr=1
  [ "$nodes" -gt 1 ] && min_isr=2
  local c
  for c in num.partitions=1 auto.create.topics.enable=true \
    "offsets.topic.replication.factor=$nodes" offsets.topic.num.partitions=3 \
    "transaction.state.log.replication.factor=$nodes" "transaction.state.log.min.isr=$min_isr" \
    transaction.state.log.num.partitions=3 group.initial.rebalance.delay.ms=0 \
    group.min.session.timeout.ms=1000 log.retention.check.interval.ms=1000 \
    broker.session.timeout.ms=4000 broker.heartbeat.interval.ms=1000 \
    replica.lag.time.max.ms=10000; do
    printf -- '--config\n%s\n' "$c"
  done
}

REFERENCE_PID="" REFERENCE_BOOTSTRAP=""
# start_reference NODES: runs `kafka-spec serve`; sets REFERENCE_PID and REFERENCE_BOOTSTRAP
# (not printed: a command substitution would run it in a subshell that forgets the PID).
start_reference() {
  local nodes=$1 out="$WORK/reference-$1.out"
  local -a args
  mapfile -t args < <(reference_configs "$nodes")
  "$REFERENCE_BIN" serve --port "$REFERENCE_PORT" --brokers "$nodes" "${args[@]}" \
    >"$out" 2>"$WORK/reference-$nodes.log" &
  REFERENCE_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    if grep -q '^bootstrap: ' "$out" 2>/dev/null; then
      REFERENCE_BOOTSTRAP="$(sed -n 's/^bootstrap: //p' "$out" | head -1)"
      return 0
    fi
    kill -0 "$REFERENCE_PID" 2>/dev/null || break
    sleep 0.1
  done
  log "the reference did not start; its log:"
  tail -20 "$WORK/reference-$nodes.log" >&2
  return 1
}

stop_reference() {
  if [ -n "$REFERENCE_PID" ]; then
    kill "$REFERENCE_PID" 2>/dev/null || true
    wait "$REFERENCE_PID" 2>/dev/null || true
    REFERENCE_PID=""
  fi
}

# start_kafka NODES: a fresh real Kafka cluster, prints its bootstrap.
start_kafka() {
  local nodes=$1 dir="$WORK/kafka-$1"
  rm -rf "$dir"
  bash "$ROOT/ci/kafka/start.sh" --nodes "$nodes" --dir "$dir" --base-port "$KAFKA_PORT" \
    2>"$WORK/kafka-$nodes.start.log" | sed -n 's/^bootstrap: //p'
}

stop_kafka() {
  bash "$ROOT/ci/kafka/stop.sh" --dir "$WORK/kafka-$1" >/dev/null 2>&1 || true
}

cleanup() {
  stop_reference
  local n
  # `if`, not `[ ] &&`: the trap's last status would become the script's exit status.
  for n in 1 3; do
    if [ -d "$WORK/kafka-$n" ]; then stop_kafka "$n"; fi
  done
}
trap cleanup EXIT

# compare NAME KAFKA_FILE REFERENCE_FILE: 0 if equal, else the diff and 1.
compare() {
  if diff -u "$2" "$3" >"$WORK/$1.diff"; then
    log "$1: same output ($(wc -l <"$2") lines)"
    return 0
  fi
  log "$1: the reference differs from Kafka:"
  cat "$WORK/$1.diff" >&2
  return 1
}

# ---------------------------------------------------------------------------------------
# Section: kafka-configs (kafka.admin.ConfigCommand)

# What one ConfigCommand run shows: its lines (a failure: the exception's class and message,
# without the stack trace) and its exit status.
configs_cmd() {
  local bootstrap=$1
  shift
  echo "\$ kafka-configs $*"
  local out status=0
  out="$("$RUN_CLASS" kafka.admin.ConfigCommand --bootstrap-server "$bootstrap" "$@" 2>&1)" || status=$?
  if [ "$status" -eq 0 ]; then
    printf '%s\n' "$out" | grep -v '^SLF4J' || true
  else
    printf '%s\n' "$out" | sed -n 's/^java.util.concurrent.ExecutionException: //p' | head -1
  fi
  echo "exit $status"
}

# The --all lines of the configs the reference describes (it lists only those it honours;
# Kafka lists some 340 broker configs), minus KNOWN differences: the reference's own
# defaults of the connection limits (see reference/src/config.rs: DEFAULT_MAX_CONNECTIONS,
# DEFAULT_QUEUED_MAX_REQUEST_BYTES).
CONFIGS_KNOWN_DIFFERENT='^  (max\.connections|queued\.max\.request\.bytes)='
only_names_of() {
  local names=$1
  grep -E "^  [a-z]" | grep -Ev "$CONFIGS_KNOWN_DIFFERENT" | while IFS= read -r line; do
    local name="${line#  }"
    name="${name%%=*}"
    grep -qxF "$name" "$names" && printf '%s\n' "$line"
  done
  return 0
}

# The commands, on one target (`nodes` brokers at `bootstrap`).
configs_script() {
  local bootstrap=$1 nodes=$2
  "$RUN_CLASS" org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create \
    --topic orders --partitions 2 --replication-factor "$nodes" >/dev/null 2>&1
  local c="configs_cmd $bootstrap"
  $c --describe --entity-type brokers --entity-default
  $c --describe --entity-type brokers --entity-name 1
  $c --describe --entity-type topics --entity-name orders
  $c --alter --entity-type topics --entity-name orders --add-config retention.ms=1000,segment.bytes=2000000
  $c --describe --entity-type topics --entity-name orders
  $c --alter --entity-type topics --entity-name orders --add-config no.such.config=1
  $c --alter --entity-type topics --entity-name orders --add-config retention.ms=abc
  $c --alter --entity-type topics --entity-name orders --add-config segment.bytes=10
  $c --alter --entity-type topics --entity-name orders --add-config min.insync.replicas=0
  $c --alter --entity-type topics --entity-name nosuch --add-config retention.ms=1000
  $c --alter --entity-type topics --entity-name orders --delete-config retention.ms
  $c --describe --entity-type topics --entity-name orders
  $c --alter --entity-type brokers --entity-name 1 --add-config log.retention.ms=60000
  $c --describe --entity-type brokers --entity-name 1
  $c --alter --entity-type brokers --entity-default --add-config log.retention.ms=120000,message.max.bytes=2000000
  $c --describe --entity-type brokers --entity-default
  $c --describe --entity-type brokers --entity-name 1
  $c --alter --entity-type brokers --entity-name 1 --add-config node.id=5
  $c --alter --entity-type brokers --entity-name 1 --add-config num.partitions=5
  $c --alter --entity-type brokers --entity-name 1 --add-config log.retention.ms=abc
  $c --alter --entity-type brokers --entity-name 1 --add-config log.segment.bytes=10
  $c --alter --entity-type brokers --entity-default --add-config min.insync.replicas=0
  if [ "$nodes" -gt 1 ]; then
    $c --alter --entity-type brokers --entity-name 2 --add-config log.segment.bytes=2000000
    $c --describe --entity-type brokers --entity-name 2
    $c --describe --entity-type brokers --entity-name 3
  fi
  $c --alter --entity-type brokers --entity-name 1 --delete-config log.retention.ms
  $c --describe --entity-type brokers --entity-name 1
  $c --alter --entity-type brokers --entity-default --delete-config log.retention.ms,message.max.bytes
  $c --describe --entity-type brokers --entity-default
}

section_configs() {
  log "building the reference (cargo build -p kafka-spec)"
  (cd "$ROOT" && cargo build -q -p kafka-spec)
  local nodes failed=0 bootstrap
  for nodes in 1 3; do
    log "configs: real Kafka, $nodes node(s)"
    bootstrap="$(start_kafka "$nodes")"
    [ -n "$bootstrap" ] || { log "Kafka did not start: $WORK/kafka-$nodes.start.log"; return 1; }
    configs_script "$bootstrap" "$nodes" >"$WORK/configs-kafka-$nodes.txt"
    "$RUN_CLASS" kafka.admin.ConfigCommand --bootstrap-server "$bootstrap" --describe \
      --entity-type brokers --entity-name 1 --all >"$WORK/configs-kafka-$nodes.all" 2>/dev/null
    "$RUN_CLASS" kafka.admin.ConfigCommand --bootstrap-server "$bootstrap" --describe \
      --entity-type topics --entity-name orders --all >"$WORK/configs-kafka-$nodes.topic-all" 2>/dev/null
    stop_kafka "$nodes"

    log "configs: the reference, $nodes broker(s)"
    start_reference "$nodes"
    bootstrap="$REFERENCE_BOOTSTRAP"
    configs_script "$bootstrap" "$nodes" >"$WORK/configs-reference-$nodes.txt"
    "$RUN_CLASS" kafka.admin.ConfigCommand --bootstrap-server "$bootstrap" --describe \
      --entity-type brokers --entity-name 1 --all >"$WORK/configs-reference-$nodes.all" 2>/dev/null
    "$RUN_CLASS" kafka.admin.ConfigCommand --bootstrap-server "$bootstrap" --describe \
      --entity-type topics --entity-name orders --all >"$WORK/configs-reference-$nodes.topic-all" 2>/dev/null
    stop_reference

    compare "configs-$nodes" "$WORK/configs-kafka-$nodes.txt" "$WORK/configs-reference-$nodes.txt" || failed=1
    local kind
    for kind in all topic-all; do
      local names="$WORK/configs-reference-$nodes.$kind.names"
      grep -E '^  [a-z]' "$WORK/configs-reference-$nodes.$kind" | sed 's/^  //; s/=.*//' >"$names"
      # A topic's synonyms include the per-broker config of the broker that answers, and the
      # admin client sends the request to any broker (its least loaded node): broker 2's own
      # log.segment.bytes shows or not depending on which one. Those synonyms are left out.
      local side
      for side in kafka reference; do
        only_names_of "$names" <"$WORK/configs-$side-$nodes.$kind" |
          if [ "$kind" = topic-all ]; then sed -E 's/DYNAMIC_BROKER_CONFIG:[^,}]*(, )?//g'; else cat; fi \
          >"$WORK/configs-$side-$nodes.$kind.cut"
      done
      compare "configs-$nodes-$kind" "$WORK/configs-kafka-$nodes.$kind.cut" \
        "$WORK/configs-reference-$nodes.$kind.cut" || failed=1
    done
  done
  return "$failed"
}

# ---------------------------------------------------------------------------------------

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(configs)
status=0
for section in "${sections[@]}"; do
  declare -F "section_$section" >/dev/null || { log "no section '$section'"; exit 2; }
  if "section_$section"; then
    log "section $section: same outcome on the reference and on Kafka"
  else
    log "section $section: DIFFERS (outputs in $WORK)"
    status=1
  fi
done
[ "$status" -eq 0 ] && [ -z "${ADMIN_TOOLS_DIR:-}" ] && rm -rf "$WORK"
exit "$status"
