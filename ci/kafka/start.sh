#!/usr/bin/env bash
# Starts a real Apache Kafka cluster (KRaft, combined broker+controller nodes)
# from the jars fetch.sh caches, as plain java processes on 127.0.0.1.
#
# Usage: ci/kafka/start.sh [--nodes 1|3] [--base-port N] [--controller-base-port N]
#                          [--dir DIR] [--timeout SECONDS]
#   --nodes                 1 (default) or 3
#   --base-port             broker port of node 1 (default 19092); node i listens on N+i-1
#   --controller-base-port  controller port of node 1 (default base-port+100)
#   --dir                   work dir (default: a new /tmp/kafka-spec.XXXXXX). A dir that
#                           holds a stopped cluster made by this script is started again
#                           on its existing data.
#   --timeout               readiness deadline in seconds (default 90)
#
# Ready means: every node's broker is registered, unfenced and answers ApiVersions
# (org.apache.kafka.tools.BrokerApiVersionsCommand lists all node ids). Then stdout gets
#   bootstrap: 127.0.0.1:19092[,127.0.0.1:19093,127.0.0.1:19094]
#   dir: DIR
#   startup: S s
#   node N: pid P, rss R MiB      (one line per node)
# A cluster that is not ready in time: the tail of each log on stderr, all nodes
# stopped, exit 1.
#
# Env: KAFKA_VERSION, KAFKA_CACHE_DIR (see fetch.sh), JAVA_HOME,
#      KAFKA_HEAP_OPTS (default "-Xmx512m -Xms256m"), KAFKA_JVM_OPTS (extra JVM flags),
#      KAFKA_LOG_LEVEL (root log level, default INFO), KAFKA_LOG_QUIET (level of the
#      chatty loggers, default WARN), KAFKA_EXTRA_CONFIG (a file appended to every
#      node's server.properties).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  usage_of "$0"
}

nodes="" base="" cbase="" dir="" timeout_s=90
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="${2:?--nodes needs a value}"; shift 2 ;;
    --base-port) base="${2:?--base-port needs a value}"; shift 2 ;;
    --controller-base-port) cbase="${2:?--controller-base-port needs a value}"; shift 2 ;;
    --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
    --timeout) timeout_s="${2:?--timeout needs a value}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
for v in "$nodes" "$base" "$cbase" "$timeout_s"; do
  case "$v" in *[!0-9]*) die "not a number: '$v'" ;; esac
done

find_java
ensure_libs
start_ms=$(now_ms)

# ---- work dir: new cluster, or a stopped one to start again ------------------
fresh=1
if [ -n "$dir" ] && [ -f "$dir/cluster.env" ]; then
  dir="$(cd "$dir" && pwd)"
  load_cluster "$dir"
  fresh=0
  [ -z "$nodes" ] || [ "$nodes" = "$NODES" ] || die "$dir holds a $NODES-node cluster, not $nodes"
  [ -z "$base" ] || [ "$base" = "$BASE_PORT" ] || die "$dir uses base port $BASE_PORT, not $base"
  [ -z "$cbase" ] || [ "$cbase" = "$CONTROLLER_BASE_PORT" ] || die "$dir uses controller base port $CONTROLLER_BASE_PORT, not $cbase"
  [ "$KAFKA_VERSION" = "$KAFKA_VER" ] || die "$dir was made with Kafka $KAFKA_VERSION, this is $KAFKA_VER"
  for ((i = 1; i <= NODES; i++)); do
    if pid="$(node_pid "$dir" "$i")"; then
      die "$dir: node $i is already running (pid $pid); stop.sh --dir $dir first"
    fi
  done
  note "starting the existing $NODES-node cluster in $dir again"
else
  NODES="${nodes:-1}"
  BASE_PORT="${base:-19092}"
  CONTROLLER_BASE_PORT="${cbase:-$((BASE_PORT + 100))}"
  case "$NODES" in 1 | 3) ;; *) die "--nodes must be 1 or 3 (got $NODES)" ;; esac
  if [ -z "$dir" ]; then
    dir="$(mktemp -d /tmp/kafka-spec.XXXXXX)"
  else
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty and holds no cluster.env: refusing to use it"
  fi
  dir="$(cd "$dir" && pwd)"
fi

for ((i = 1; i <= NODES; i++)); do
  for p in "$(broker_port "$i")" "$(controller_port "$i")"; do
    if port_in_use "$p"; then die "port $p on 127.0.0.1 is already in use (choose another --base-port)"; fi
  done
done

# ---- configuration and storage (new clusters only) ----------------------------
write_properties() {
  local id="$1" nd="$dir/node-$1" bp cp rf isr voters="" j
  bp="$(broker_port "$id")"
  cp="$(controller_port "$id")"
  rf="$NODES"
  isr=$((NODES >= 3 ? 2 : 1))
  mkdir -p "$nd/data"
  {
    echo "# Written by ci/kafka/start.sh: node $id of a $NODES-node KRaft test cluster (Kafka $KAFKA_VER)."
    echo "process.roles=broker,controller"
    echo "node.id=$id"
    echo "listeners=PLAINTEXT://127.0.0.1:$bp,CONTROLLER://127.0.0.1:$cp"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$bp,CONTROLLER://127.0.0.1:$cp"
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    if [ "$NODES" = 1 ]; then
      echo "controller.quorum.bootstrap.servers=127.0.0.1:$cp"
    else
      for ((j = 1; j <= NODES; j++)); do
        voters="${voters:+$voters,}$j@127.0.0.1:$(controller_port "$j")"
      done
      echo "controller.quorum.voters=$voters"
    fi
    echo "log.dirs=$nd/data"
    echo
    echo "# Topics: Kafka's own defaults, said out loud."
    echo "num.partitions=1"
    echo "auto.create.topics.enable=true"
    echo
    echo "# Internal topics sized for $NODES node(s), few partitions so they are created fast."
    echo "offsets.topic.replication.factor=$rf"
    echo "offsets.topic.num.partitions=3"
    echo "transaction.state.log.replication.factor=$rf"
    echo "transaction.state.log.min.isr=$isr"
    echo "transaction.state.log.num.partitions=3"
    echo "share.coordinator.state.topic.replication.factor=$rf"
    echo "share.coordinator.state.topic.min.isr=$isr"
    echo "share.coordinator.state.topic.num.partitions=3"
    echo
    echo "# Groups: no initial rebalance delay; minimums low enough for short test timeouts."
    echo "group.initial.rebalance.delay.ms=0"
    echo "group.min.session.timeout.ms=1000"
    echo "group.consumer.min.session.timeout.ms=1000"
    echo "group.consumer.min.heartbeat.interval.ms=500"
    echo "group.share.min.session.timeout.ms=1000"
    echo "group.share.min.heartbeat.interval.ms=500"
    echo "group.streams.min.session.timeout.ms=1000"
    echo "group.streams.min.heartbeat.interval.ms=500"
    echo
    echo "# Retention and compaction act within seconds (Kafka: 5 min, 30 s, 15 s). Only broker-wide"
    echo "# settings: nothing here shows up as a topic config in DescribeConfigs."
    echo "log.retention.check.interval.ms=1000"
    echo "log.initial.task.delay.ms=1000"
    echo "log.cleaner.backoff.ms=1000"
    echo
    echo "# Failure detection for fault injection (Kafka: 9 s, 2 s, 30 s)."
    echo "broker.session.timeout.ms=4000"
    echo "broker.heartbeat.interval.ms=1000"
    echo "replica.lag.time.max.ms=10000"
    if [ -n "${KAFKA_EXTRA_CONFIG:-}" ]; then
      echo
      echo "# From \$KAFKA_EXTRA_CONFIG ($KAFKA_EXTRA_CONFIG)"
      cat "$KAFKA_EXTRA_CONFIG"
    fi
  } >"$nd/server.properties"
}

if [ "$fresh" = 1 ]; then
  CLUSTER_ID="$(run_tool kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
  [ -n "$CLUSTER_ID" ] || die "kafka.tools.StorageTool random-uuid printed nothing"
  for ((i = 1; i <= NODES; i++)); do
    write_properties "$i"
  done
  cp "$KAFKA_CI_HERE/log4j2.xml" "$dir/log4j2.xml"
  {
    echo "# Written by ci/kafka/start.sh; read by stop.sh and restart-node.sh."
    echo "NODES=$NODES"
    echo "BASE_PORT=$BASE_PORT"
    echo "CONTROLLER_BASE_PORT=$CONTROLLER_BASE_PORT"
    echo "CLUSTER_ID=$CLUSTER_ID"
    echo "KAFKA_VERSION=$KAFKA_VER"
  } >"$dir/cluster.env"
  # Format every node's storage with the same cluster id; pids run in parallel.
  fmt_pids=()
  for ((i = 1; i <= NODES; i++)); do
    fmt=(format --config "$dir/node-$i/server.properties" --cluster-id "$CLUSTER_ID")
    [ "$NODES" = 1 ] && fmt+=(--standalone)
    run_tool kafka.tools.StorageTool "${fmt[@]}" >"$dir/node-$i/format.log" 2>&1 &
    fmt_pids+=($!)
  done
  for ((i = 1; i <= NODES; i++)); do
    wait "${fmt_pids[$((i - 1))]}" || {
      cat "$dir/node-$i/format.log" >&2
      die "formatting node $i failed (kafka.tools.StorageTool format, output above)"
    }
  done
  note "cluster $CLUSTER_ID: $NODES node(s) formatted in $dir ($(elapsed_s "$start_ms") s)"
fi

# ---- launch and wait ------------------------------------------------------------
export KAFKA_JVM_OPTS="-Dkafka.ci.log.level=${KAFKA_LOG_LEVEL:-INFO} -Dkafka.ci.log.quiet=${KAFKA_LOG_QUIET:-WARN} ${KAFKA_JVM_OPTS:-}"
ids=()
for ((i = 1; i <= NODES; i++)); do
  launch_node "$dir" "$i"
  ids+=("$i")
done

if ! wait_ready "$dir" "$timeout_s" "${ids[@]}"; then
  for id in "${ids[@]}"; do
    show_log_tail "$dir" "$id" 40
  done
  for id in "${ids[@]}"; do
    signal_node "$dir" "$id" TERM 10 || true
  done
  die "Kafka $KAFKA_VER did not start: $WAIT_REASON (logs in $dir/node-*/kafka.log)"
fi

echo "bootstrap: $(bootstrap_list)"
echo "dir: $dir"
echo "startup: $(elapsed_s "$start_ms") s"
for id in "${ids[@]}"; do
  pid="$(node_pid "$dir" "$id")"
  echo "node $id: pid $pid, rss $(rss_of "$pid")"
done
