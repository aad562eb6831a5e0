#!/usr/bin/env bash
# Signals the nodes of a cluster that start.sh made, by their saved PIDs only
# (DIR/node-N.pid; a PID whose command line is not that node's Kafka is never
# signalled).
#
# Usage: ci/kafka/stop.sh --dir DIR [--node N] [--signal TERM|KILL|STOP|CONT] [--timeout S]
#   --node     one node only (default: every node)
#   --signal   TERM (default): wait up to --timeout seconds (default 30) for the exit,
#              then SIGKILL. KILL: kill and wait for the exit. STOP / CONT: freeze /
#              resume the process (fault injection), return at once.
# All nodes with TERM are signalled together, then waited for.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="" node="" sig=TERM timeout_s=30
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
    --node) node="${2:?--node needs a value}"; shift 2 ;;
    --signal) sig="${2:?--signal needs a value}"; shift 2 ;;
    --timeout) timeout_s="${2:?--timeout needs a value}"; shift 2 ;;
    -h | --help) usage_of "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$dir" ] || die "--dir DIR is required"
sig="${sig#SIG}"
case "$sig" in TERM | KILL | STOP | CONT) ;; *) die "--signal must be TERM, KILL, STOP or CONT (got $sig)" ;; esac
dir="$(cd "$dir" 2>/dev/null && pwd)" || die "no such dir: $dir"
load_cluster "$dir"

if [ -n "$node" ]; then
  case "$node" in '' | *[!0-9]*) die "--node must be a node id" ;; esac
  if [ "$node" -lt 1 ] || [ "$node" -gt "$NODES" ]; then die "node $node: the cluster in $dir has nodes 1..$NODES"; fi
  signal_node "$dir" "$node" "$sig" "$timeout_s"
  exit 0
fi

pids=()
for ((i = 1; i <= NODES; i++)); do
  signal_node "$dir" "$i" "$sig" "$timeout_s" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do
  wait "$p" || rc=1
done
exit "$rc"
