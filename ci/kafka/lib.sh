# shellcheck shell=bash
# Shared by the scripts in ci/kafka/. Sourced, never run.
#
# Resolves the Kafka version (pom.xml, or $KAFKA_VERSION), the jar cache
# ($KAFKA_CACHE_DIR), finds java, and knows how to launch one node, signal it
# by its saved PID, and wait until brokers answer a real client request.

KAFKA_CI_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() {
  echo "kafka-ci: $*" >&2
  exit 1
}

# The comment block at the top of a script (after the shebang), as help text.
usage_of() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$1"
}

note() {
  echo "kafka-ci: $*" >&2
}

# Version pinned in pom.xml, unless $KAFKA_VERSION overrides it.
kafka_version() {
  if [ -n "${KAFKA_VERSION:-}" ]; then
    echo "$KAFKA_VERSION"
    return
  fi
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_CI_HERE/pom.xml" | sed -n 1p
}

KAFKA_VER="$(kafka_version)"
[ -n "$KAFKA_VER" ] || die "cannot read <kafka.version> from $KAFKA_CI_HERE/pom.xml"
KAFKA_HOME_DIR="${KAFKA_CACHE_DIR:-$HOME/.cache/kafka-spec/kafka-$KAFKA_VER}"
KAFKA_LIBS="$KAFKA_HOME_DIR/libs"
KAFKA_MARKER="$KAFKA_LIBS/.complete"

# True when the libs dir holds every jar the marker lists.
libs_complete() {
  [ -f "$KAFKA_MARKER" ] || return 1
  [ "$(head -n1 "$KAFKA_MARKER")" = "kafka $KAFKA_VER" ] || return 1
  local jar
  while IFS= read -r jar; do
    [ -s "$KAFKA_LIBS/$jar" ] || return 1
  done < <(tail -n +2 "$KAFKA_MARKER")
  return 0
}

# Sets $JAVA to a java >= 17, or exits with what is missing and how to get it.
find_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    JAVA="$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    JAVA="$(command -v java)"
  else
    die "java not found (neither \$JAVA_HOME/bin/java nor java on PATH).
  Kafka $KAFKA_VER needs a Java 17+ runtime: apt-get install openjdk-17-jre-headless
  (or set JAVA_HOME to a JDK/JRE 17 or newer)."
  fi
  local v major
  v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | sed -n 1p)"
  major="${v%%.*}"
  if [ "$major" = "1" ]; then major="$(echo "$v" | cut -d. -f2)"; fi
  case "$major" in
    '' | *[!0-9]*) die "cannot tell the version of $JAVA (got '$v')" ;;
  esac
  [ "$major" -ge 17 ] || die "$JAVA is Java $v; Kafka $KAFKA_VER needs Java 17+.
  apt-get install openjdk-17-jre-headless (or set JAVA_HOME to a newer JDK/JRE)."
}

# Makes sure the jars are there (fetch.sh is idempotent), its output on stderr.
ensure_libs() {
  libs_complete || "$KAFKA_CI_HERE/fetch.sh" >&2 || die "fetch.sh failed"
}

# JVM flags for short-lived tool runs (readiness probes, console tools).
TOOL_JVM_OPTS=(-Xmx256m -Xms32m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true)

# run_tool CLASS ARGS...: runs a Kafka class from the cached jars with a quiet
# (WARN, stderr) log4j2 config.
run_tool() {
  "$JAVA" "${TOOL_JVM_OPTS[@]}" \
    -Dlog4j2.configurationFile="$KAFKA_CI_HERE/tools-log4j2.xml" \
    -cp "$KAFKA_LIBS/*" "$@"
}

now_ms() {
  date +%s%3N
}

# Prints the elapsed seconds since START_MS (one decimal).
elapsed_s() {
  local d=$(($(now_ms) - $1))
  printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100))
}

# ---- cluster dir layout ---------------------------------------------------
#   DIR/cluster.env            NODES, BASE_PORT, CONTROLLER_BASE_PORT, CLUSTER_ID, KAFKA_VERSION, KAFKA_LIBS
#   DIR/log4j2.xml             broker logging config
#   DIR/node-N/server.properties
#   DIR/node-N/data/           log.dirs (and the metadata log)
#   DIR/node-N/kafka.log       the node's stdout/stderr (log4j2 console appender)
#   DIR/node-N.pid             PID of the node's java process

load_cluster() {
  local dir="$1"
  [ -f "$dir/cluster.env" ] || die "$dir/cluster.env not found: not a cluster dir made by start.sh"
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
}

broker_port() { echo $((BASE_PORT + $1 - 1)); }
controller_port() { echo $((CONTROLLER_BASE_PORT + $1 - 1)); }

bootstrap_list() {
  local i out=""
  for ((i = 1; i <= NODES; i++)); do
    out="${out:+$out,}127.0.0.1:$(broker_port "$i")"
  done
  echo "$out"
}

pid_file() { echo "$1/node-$2.pid"; }

# The saved PID of node N if that process is alive (not a zombie) and is this
# node's Kafka (its command line names this node's server.properties), so a
# recycled PID is never signalled.
node_pid() {
  local dir="$1" id="$2" pf pid state
  pf="$(pid_file "$dir" "$id")"
  [ -f "$pf" ] || return 1
  pid="$(cat "$pf")"
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d' ' -f1)"
  [ "$state" != "Z" ] && [ "$state" != "X" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/node-$id/server.properties" || return 1
  echo "$pid"
}

# Same, but a stopped (SIGSTOP) process counts as well: only used to decide
# whether something still has to be stopped.
node_state() {
  local pid="$1"
  sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1
}

rss_of() {
  awk '/^VmRSS:/ { printf "%d MiB", $2 / 1024 }' "/proc/$1/status" 2>/dev/null
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# launch_node DIR ID: starts node ID's java process in the background, in a
# session of its own, stdout/stderr appended to node-ID/kafka.log, PID saved.
launch_node() {
  local dir="$1" id="$2" nd pf
  nd="$dir/node-$id"
  pf="$(pid_file "$dir" "$id")"
  rm -f "$pf"
  local heap="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
  # shellcheck disable=SC2086
  # shellcheck disable=SC2016 # $$ is the inner shell's PID, which exec turns into java
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pf" \
    "$JAVA" $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.xml" \
    -Dkafka.logs.dir="$nd" \
    ${KAFKA_JVM_OPTS:-} \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$nd/server.properties" \
    </dev/null >>"$nd/kafka.log" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do
    [ -s "$pf" ] && return 0
    sleep 0.1
  done
  die "node $id: no PID file after launch (see $nd/kafka.log)"
}

# registered_ids BOOTSTRAP: the broker ids that answer ApiVersions through
# BOOTSTRAP, one per line (unfenced brokers, as the metadata response lists).
registered_ids() {
  timeout 30 "$JAVA" "${TOOL_JVM_OPTS[@]}" \
    -Dlog4j2.configurationFile="$KAFKA_CI_HERE/tools-log4j2.xml" \
    -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$1" --command-config "$KAFKA_CI_HERE/probe.properties" 2>/dev/null |
    grep -v 'isFenced: true' | sed -n 's/^[^ ]* (id: \([0-9]*\) rack: .*) -> (.*/\1/p' | sort -n | uniq
}

# wait_ready DIR DEADLINE_S ID...: polls until every listed node's broker is
# registered and answers; returns 1 (why in $WAIT_REASON) when a node exits or
# the deadline passes.
WAIT_REASON=""
wait_ready() {
  local dir="$1" deadline_s="$2"
  shift 2
  local want=("$@") start ids id ok bs
  start=$(now_ms)
  bs="$(bootstrap_list)"
  while :; do
    for id in "${want[@]}"; do
      node_pid "$dir" "$id" >/dev/null || {
        WAIT_REASON="node $id exited during startup"
        note "$WAIT_REASON"
        return 1
      }
    done
    # A JVM probe costs ~1 s of CPU that the starting brokers want: only
    # probe once every wanted broker port accepts TCP connections.
    ok=1
    for id in "${want[@]}"; do
      port_in_use "$(broker_port "$id")" || ok=0
    done
    ids=""
    [ "$ok" = 1 ] && ids="$(registered_ids "$bs")"
    ok=1
    for id in "${want[@]}"; do
      grep -qx "$id" <<<"$ids" || ok=0
    done
    [ "$ok" = 1 ] && return 0
    if (($(now_ms) - start > deadline_s * 1000)); then
      WAIT_REASON="not ready within ${deadline_s}s (registered brokers: [$(tr '\n' ' ' <<<"$ids")])"
      note "$WAIT_REASON"
      return 1
    fi
    sleep 0.3
  done
}

# Tail of a node's log, for failures.
show_log_tail() {
  local dir="$1" id="$2" n="${3:-40}"
  echo "----- tail of $dir/node-$id/kafka.log -----" >&2
  tail -n "$n" "$dir/node-$id/kafka.log" >&2 2>/dev/null || true
  echo "----- end of node $id log -----" >&2
}

# signal_node DIR ID SIGNAL [DEADLINE_S]: SIGNAL by saved PID only. TERM waits
# up to DEADLINE_S for the exit, then KILLs; KILL waits for the exit. Removes
# the PID file once the process is gone. STOP/CONT just signal.
signal_node() {
  local dir="$1" id="$2" sig="$3" deadline_s="${4:-30}" pid start
  if ! pid="$(node_pid "$dir" "$id")"; then
    rm -f "$(pid_file "$dir" "$id")"
    note "node $id: not running"
    return 0
  fi
  case "$sig" in
    STOP | CONT)
      kill "-$sig" "$pid"
      note "node $id: SIG$sig sent to pid $pid"
      return 0
      ;;
    KILL)
      kill -KILL "$pid" 2>/dev/null || true
      ;;
    TERM)
      # A stopped process cannot act on TERM: let it run again first.
      [ "$(node_state "$pid")" = "T" ] && kill -CONT "$pid" 2>/dev/null
      kill -TERM "$pid" 2>/dev/null || true
      ;;
    *) die "unknown signal $sig (KILL, TERM, STOP or CONT)" ;;
  esac
  start=$(now_ms)
  while node_pid "$dir" "$id" >/dev/null; do
    if [ "$sig" = TERM ] && (($(now_ms) - start > deadline_s * 1000)); then
      note "node $id: pid $pid still running ${deadline_s}s after SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sig=KILL
      start=$(now_ms)
    fi
    if [ "$sig" = KILL ] && (($(now_ms) - start > 10000)); then
      die "node $id: pid $pid survives SIGKILL"
    fi
    sleep 0.1
  done
  rm -f "$(pid_file "$dir" "$id")"
  note "node $id: pid $pid gone after SIG$sig ($(elapsed_s "$start") s)"
}
