#!/usr/bin/env bash
# Starts one node of a cluster that start.sh made again, on its existing data
# (same server.properties, same log dirs), and waits until its broker is
# registered again. A node still running is stopped first (TERM, then KILL
# after --timeout); a frozen one (SIGSTOP) is resumed for that.
#
# Usage: ci/kafka/restart-node.sh --dir DIR --node N [--timeout S] [--stop-timeout S]
#   --timeout        readiness deadline in seconds (default 90)
#   --stop-timeout   how long a running node gets to exit after SIGTERM (default 30)
# Prints on stdout: "node N: pid P, rss R MiB" and "restart: S s".
# Env: as start.sh (KAFKA_HEAP_OPTS, KAFKA_JVM_OPTS, KAFKA_LOG_LEVEL, ...).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="" node="" timeout_s=90 stop_timeout_s=30
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
    --node) node="${2:?--node needs a value}"; shift 2 ;;
    --timeout) timeout_s="${2:?--timeout needs a value}"; shift 2 ;;
    --stop-timeout) stop_timeout_s="${2:?--stop-timeout needs a value}"; shift 2 ;;
    -h | --help) usage_of "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$dir" ] || die "--dir DIR is required"
case "$node" in '' | *[!0-9]*) die "--node N is required" ;; esac
dir="$(cd "$dir" 2>/dev/null && pwd)" || die "no such dir: $dir"
load_cluster "$dir"
if [ "$node" -lt 1 ] || [ "$node" -gt "$NODES" ]; then die "node $node: the cluster in $dir has nodes 1..$NODES"; fi
[ "$KAFKA_VERSION" = "$KAFKA_VER" ] || die "$dir was made with Kafka $KAFKA_VERSION, this is $KAFKA_VER"
find_java
ensure_libs

start_ms=$(now_ms)
if node_pid "$dir" "$node" >/dev/null; then
  signal_node "$dir" "$node" TERM "$stop_timeout_s"
fi
for p in "$(broker_port "$node")" "$(controller_port "$node")"; do
  # The old process is gone; wait briefly for the OS to release its ports.
  for ((t = 0; t < 50; t++)); do port_in_use "$p" || break; sleep 0.1; done
  if port_in_use "$p"; then die "port $p on 127.0.0.1 is still in use"; fi
done

export KAFKA_JVM_OPTS="-Dkafka.ci.log.level=${KAFKA_LOG_LEVEL:-INFO} -Dkafka.ci.log.quiet=${KAFKA_LOG_QUIET:-WARN} ${KAFKA_JVM_OPTS:-}"
echo "----- restart $(date -u +%FT%TZ) by ci/kafka/restart-node.sh -----" >>"$dir/node-$node/kafka.log"
launch_node "$dir" "$node"
if ! wait_ready "$dir" "$timeout_s" "$node"; then
  show_log_tail "$dir" "$node" 60
  signal_node "$dir" "$node" TERM 10 || true
  die "node $node did not come back: $WAIT_REASON (log in $dir/node-$node/kafka.log)"
fi
pid="$(node_pid "$dir" "$node")"
echo "node $node: pid $pid, rss $(rss_of "$pid")"
echo "restart: $(elapsed_s "$start_ms") s"
