#!/usr/bin/env bash
# Kafka's topic and quorum tools (4.3.1, from Maven Central: ci/kafka/fetch.sh) against the
# reference broker (1 and 3 brokers) and against real Kafka (1 and 3 nodes): each tool's
# outcome, normalised (ids, ports, timestamps, placement), must be the same on both.
#
# Usage: ci/topic-tools.sh [--nodes 1|3|both] [--only TOOL[,TOOL...]] [--bootstrap HOST:PORT]
#   --nodes      cluster sizes to compare (default both: reference:1 vs Kafka 1 node, then
#                reference:3 vs Kafka 3 nodes)
#   --only       tools (default all): delete-records, topics-describe, metadata-quorum,
#                log-dirs, reassign
#   --bootstrap  no comparison: print each tool's normalised outcome on this running
#                cluster of --nodes brokers (which must not have the tools' topics yet)
#
# One function per tool (`tool_<name> BOOTSTRAP NODES`), each printing the normalised
# outcome of one run of the tool on a fresh cluster; `compare` runs it on both sides and
# diffs. The tools:
# - delete-records: `kafka-delete-records` (org.apache.kafka.tools.DeleteRecordsCommand) on
#   two topics of 10 and 4 records: offset -1 (the high watermark) and 3, then one beyond the
#   high watermark and one below the new start, then an unknown partition; GetOffsetShell's
#   earliest and latest offsets before, between and after.
# - topics-describe: `kafka-topics --describe` (org.apache.kafka.tools.TopicCommand, which
#   uses DescribeTopicPartitions, KIP-966) of a topic with 5 partitions, paged 2 partitions
#   per response; of a missing topic (exit status 1).
# - metadata-quorum: `kafka-metadata-quorum describe --status` (and `--replication` on one
#   node) (org.apache.kafka.tools.MetadataQuorumCommand).
# - log-dirs: `kafka-log-dirs --describe` (org.apache.kafka.tools.LogDirsCommand, which asks
#   every broker DescribeLogDirs) of a topic on every broker before and after 10 records and
#   a 3-partition topic of one replica each, then with `--topic-list` (a missing topic among
#   them) and `--broker-list`, then a `--broker-list` naming a broker that does not exist
#   (exit status 1). Log dir paths become `(absolute)`, sizes `zero`/`non-zero`, brokers and
#   partitions sorted; only the tool's own topics (`logdirs-*`) are shown (Kafka's node
#   starts again on the data of the tools before); the single-replica topic's partitions are
#   compared over all brokers together (placement differs).
# - reassign: `kafka-reassign-partitions`
#   (org.apache.kafka.tools.reassign.ReassignPartitionsCommand, AlterPartitionReassignments
#   and ListPartitionReassignments) moving a topic's two partitions, with records, from 1,2
#   and 2,3 to 2,3 and 3,1: `--execute`, `--verify` until done, `kafka-topics --describe`
#   and the offsets after; a move to an unknown broker (exit status 1) and a `--cancel` with
#   nothing in progress. The rollback JSON's log dirs (paths) become `(dirs)`.
#
# Known and accepted (normalised away, and said so in the output): the reference's metadata
# quorum is one in-process controller, so on 3 brokers it shows 1 voter and 2 observers where
# a 3-node Kafka shows 3 voters; the comparison there is on the fields, the leader and the
# set of quorum members. Replica placement differs (the replica sets, with replication factor
# = brokers, do not).
#
# Needs only what ci/kafka/fetch.sh and a Rust toolchain give: java 17+, the jars, cargo;
# and jq for log-dirs (the tool prints one line of JSON).
# Environment:
#   KAFKA_SPEC_BIN          the kafka-spec binary (default: cargo build -p kafka-spec)
#   TOPIC_TOOLS_BASE_PORT   Kafka's broker port base (default 27092; 3 nodes use +200, the
#                           controllers +100 on each)
#   TOPIC_TOOLS_REFERENCE_PORT  the reference's first broker port (default base + 400; the
#                           others follow it; 0 picks free ports)
#   TOPIC_TOOLS_KEEP        1: keep the scratch directory
set -euo pipefail
shopt -s inherit_errexit

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="$root/ci/kafka/run-class.sh"
base_port="${TOPIC_TOOLS_BASE_PORT:-27092}"
ref_port="${TOPIC_TOOLS_REFERENCE_PORT:-$((base_port + 400))}"
nodes_wanted=both
only=all
target=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --nodes) nodes_wanted="${2:?--nodes needs 1, 3 or both}"; shift 2 ;;
        --only) only="${2:?--only needs a tool list}"; shift 2 ;;
        --bootstrap) target="${2:?--bootstrap needs HOST:PORT}"; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "topic-tools: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

work="$(mktemp -d "${TMPDIR:-/tmp}/topic-tools.XXXXXX")"
ref_pid=""
kafka_dir=""
failures=0
checks=0

log() { printf 'topic-tools: %s\n' "$*" >&2; }

cleanup() {
    local rc=$?
    stop_reference
    stop_kafka
    if [[ "${TOPIC_TOOLS_KEEP:-0}" == 1 || $rc -ne 0 ]]; then
        log "scratch directory kept: $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT

# A client config with short timeouts: an unknown partition fails in seconds, not 60.
cat >"$work/client.properties" <<'EOF'
default.api.timeout.ms=8000
request.timeout.ms=4000
EOF

tool() { "$run" "$@" 2>>"$work/tools.stderr"; }

# ---- clusters ------------------------------------------------------------------------

start_reference() { # NODES: sets `bootstrap`
    local nodes="$1" out="$work/reference-$1.stdout"
    : >"$out"
    "$KAFKA_SPEC_BIN" serve --port "$ref_port" --brokers "$nodes" >"$out" 2>"$work/reference-$nodes.stderr" </dev/null &
    ref_pid=$!
    local deadline=$((SECONDS + 60)) line=""
    until line="$(grep -m1 '^bootstrap: ' "$out")"; do
        kill -0 "$ref_pid" 2>/dev/null || { log "the reference exited"; tail -20 "$work/reference-$nodes.stderr" >&2; exit 1; }
        ((SECONDS < deadline)) || { log "the reference did not start in 60 s"; exit 1; }
        sleep 0.2
    done
    bootstrap="${line#bootstrap: }"
    log "reference:$nodes at $bootstrap"
}

stop_reference() {
    [[ -n "$ref_pid" ]] || return 0
    kill -TERM "$ref_pid" 2>/dev/null || true
    wait "$ref_pid" 2>/dev/null || true
    ref_pid=""
}

start_kafka() { # NODES: sets `bootstrap`
    local nodes="$1" port=$((base_port + ($1 - 1) * 100))
    kafka_dir="$work/kafka-$nodes"
    local out
    out="$("$root/ci/kafka/start.sh" --nodes "$nodes" --dir "$kafka_dir" --base-port "$port" 2>>"$work/kafka-start.stderr")" ||
        { log "Kafka did not start"; tail -30 "$work/kafka-start.stderr" >&2; exit 1; }
    bootstrap="$(sed -n 's/^bootstrap: //p' <<<"$out")"
    log "Kafka $nodes node(s) at $bootstrap"
}

stop_kafka() {
    [[ -n "$kafka_dir" ]] || return 0
    "$root/ci/kafka/stop.sh" --dir "$kafka_dir" >/dev/null 2>&1 || true
    kafka_dir=""
}

# ---- normalising ---------------------------------------------------------------------

# An awk function: a comma-separated list of broker ids, sorted.
awk_sorted='
    function sorted(list,   n, a, i, j, t, s) {
        n = split(list, a, ",")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        s = a[1]; for (i = 2; i <= n; i++) s = s "," a[i]; return s
    }'

# Exception messages carry timestamps and retry counts: keep the exception's class only.
exceptions() { sed -E 's/(org\.apache\.kafka\.common\.errors\.[A-Za-z]+Exception):.*/\1/'; }

# ---- the tools -----------------------------------------------------------------------

# kafka-delete-records on a fresh cluster of NODES brokers: topics `recs` (10 records) and
# `more` (4 records), one partition each.
tool_delete_records() {
    local b="$1" nodes="$2" topic count
    for topic in recs:10 more:4; do
        count="${topic#*:}"
        topic="${topic%%:*}"
        tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --create --topic "$topic" \
            --partitions 1 --replication-factor "$nodes" >/dev/null
        seq 1 "$count" | tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$b" \
            --topic "$topic" --command-property acks=all >/dev/null
    done
    offsets_of() {
        tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$b" \
            --topic-partitions recs:0,more:0 --time "$1" | sort | tr '\n' ' '
    }
    echo "earliest before: $(offsets_of -2)"
    echo "latest before: $(offsets_of -1)"
    local n=0 offsets
    # -1 is the high watermark; 99 is beyond it; 2 is below the start (no-op); recs-7 does
    # not exist (the admin client times out looking for its leader).
    for offsets in 'recs:0:-1 more:0:3' 'recs:0:99 more:0:2' 'more:0:-1 recs:7:1'; do
        n=$((n + 1))
        local json='{"version":1,"partitions":[' sep='' tpo
        for tpo in $offsets; do
            IFS=: read -r topic partition offset <<<"$tpo"
            json+="$sep{\"topic\":\"$topic\",\"partition\":$partition,\"offset\":$offset}"
            sep=','
        done
        printf '%s]}\n' "$json" >"$work/delete-$n.json"
        echo "delete $offsets:"
        local status=0
        tool org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server "$b" \
            --offset-json-file "$work/delete-$n.json" --command-config "$work/client.properties" \
            >"$work/delete-$n.out" || status=$?
        exceptions <"$work/delete-$n.out" | sort
        echo "exit $status"
        echo "earliest: $(offsets_of -2)"
    done
    echo "latest after: $(offsets_of -1)"
}

# kafka-topics --describe on a fresh cluster of NODES brokers.
tool_topics_describe() {
    local b="$1" nodes="$2" status
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --create --topic orders \
        --partitions 5 --replication-factor "$nodes" >/dev/null
    # Let every replica join the ISR (the same wait on both sides).
    local deadline=$((SECONDS + 30))
    until [[ "$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --describe --topic orders \
        --under-replicated-partitions | wc -l)" -eq 0 ]] || ((SECONDS > deadline)); do sleep 0.5; done
    echo "describe orders (2 partitions per response):"
    status=0
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --describe --topic orders \
        --partition-size-limit-per-response 2 >"$work/describe.out" || status=$?
    # Ids and the leader's place differ: the leader must be a replica, the replica and ISR
    # sets (all brokers, as replication factor = brokers) are compared sorted.
    awk "$awk_sorted"'
        {
            gsub(/TopicId: [^\t ]+/, "TopicId: ID")
            leader = ""; replicas = ""
            for (i = 1; i <= NF; i++) {
                if ($i == "Leader:") leader = $(i + 1)
                if ($i == "Replicas:") { replicas = $(i + 1); $(i + 1) = sorted($(i + 1)) }
                if ($i == "Isr:") $(i + 1) = sorted($(i + 1))
            }
            if (leader != "") {
                ok = ("," replicas ",") ~ ("," leader ",") ? "a replica" : "NOT A REPLICA"
                sub("Leader: " leader, "Leader: (" ok ")")
            }
            print
        }' "$work/describe.out"
    echo "exit $status"
    echo "describe nosuch:"
    status=0
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --describe --topic nosuch || status=$?
    echo "exit $status"
}

# kafka-metadata-quorum describe --status (and --replication on one node).
tool_metadata_quorum() {
    local b="$1" nodes="$2" status=0
    tool org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$b" describe --status \
        >"$work/quorum.out" || status=$?
    echo "describe --status: exit $status"
    # Numbers and ids vary; what must hold: every field, a leader among the voters, no lag,
    # and (one voter or three) every broker a member of the quorum.
    awk -v nodes="$nodes" '
        /^ClusterId:/ { print "ClusterId: (" (length($2) == 22 ? "22 chars" : $2) ")"; next }
        /^LeaderId:/ { leader = $2; print "LeaderId: N"; next }
        /^LeaderEpoch:|^HighWatermark:/ { print $1 " " ($2 > 0 ? "> 0" : $2); next }
        /^MaxFollowerLag:|^MaxFollowerLagTimeMs:/ { print $1 " " ($2 >= 0 ? ">= 0" : $2); next }
        /^CurrentVoters:|^CurrentObservers:/ {
            line = $0; sub(/^[A-Za-z]+: */, "", line)
            n = 0
            while (match(line, /"id": [0-9]+/)) {
                id = substr(line, RSTART + 6, RLENGTH - 6); ids[id] = 1; n++
                if ($1 == "CurrentVoters:" && id == leader) leader_votes = 1
                line = substr(line, RSTART + RLENGTH)
            }
            count[$1] = n
            next
        }
        { print }
        END {
            m = 0; for (id in ids) m++
            print "leader is a voter: " (leader_votes ? "yes" : "no")
            print "quorum members (voters + observers): " m " of " nodes " brokers"
            if (nodes == 1) print "voters: " count["CurrentVoters:"] ", observers: " count["CurrentObservers:"]
        }' "$work/quorum.out"
    if [[ "$nodes" == 1 ]]; then
        status=0
        tool org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$b" describe --replication \
            >"$work/replication.out" || status=$?
        echo "describe --replication: exit $status"
        awk 'NR == 1 { $1 = $1; print; next } { print "node: " $NF }' "$work/replication.out"
    fi
}

# kafka-log-dirs --describe on a cluster of NODES brokers: `logdirs-all` (one partition, a
# replica on every broker) empty and then with 10 records, `logdirs-one` (3 partitions, one
# replica each, no records); other topics' replicas are left out of the outcome.
tool_log_dirs() {
    local b="$1" nodes="$2" status
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --create --topic logdirs-all \
        --partitions 1 --replication-factor "$nodes" >/dev/null
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --create --topic logdirs-one \
        --partitions 3 --replication-factor 1 >/dev/null
    local deadline=$((SECONDS + 30))
    until [[ "$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --describe --topic logdirs-all \
        --under-replicated-partitions | wc -l)" -eq 0 ]] || ((SECONDS > deadline)); do sleep 0.5; done
    log_dirs() { # ARGS...: the tool's outcome, normalised
        status=0
        tool org.apache.kafka.tools.LogDirsCommand --bootstrap-server "$b" --describe "$@" \
            >"$work/log-dirs.out" || status=$?
        grep -v '^{' "$work/log-dirs.out" || true
        grep '^{' "$work/log-dirs.out" | jq -r '
            def size: if . > 0 then "non-zero" elif . == 0 then "zero" else "\(.)" end;
            def dir: if startswith("/") then "(absolute)" else . end;
            ((.brokers | sort_by(.broker))[] as $b | $b.logDirs[] as $d |
                "broker \($b.broker): logDir \($d.logDir | dir), error \($d.error)",
                ($d.partitions | map(select(.partition | startswith("logdirs-all-")))
                    | sort_by(.partition)[]
                    | "  \(.partition): size \(.size | size), offsetLag \(.offsetLag), isFuture \(.isFuture)")),
            "log dirs per broker: \([.brokers[].logDirs | length] | unique | map(tostring) | join(","))",
            "distinct log dirs: \([.brokers[].logDirs[].logDir] | (unique | length) == length)",
            "logdirs-one over all brokers: \([.brokers[].logDirs[].partitions[] | select(.partition | startswith("logdirs-one-"))
                | "\(.partition) \(.size | size) lag \(.offsetLag)"] | sort | join(", "))"'
        echo "exit $status"
    }
    echo "describe (before any record):"
    log_dirs
    seq 1 10 | tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$b" \
        --topic logdirs-all --command-property acks=all >/dev/null
    echo "describe (after 10 records):"
    log_dirs
    local brokers=1
    [[ "$nodes" == 1 ]] || brokers="1,$nodes"
    echo "describe --topic-list logdirs-all,nosuch --broker-list $brokers:"
    log_dirs --topic-list logdirs-all,nosuch --broker-list "$brokers"
    echo "describe --broker-list 1,7:"
    status=0
    "$run" org.apache.kafka.tools.LogDirsCommand --bootstrap-server "$b" --describe \
        --broker-list 1,7 >"$work/log-dirs.out" 2>&1 || status=$?
    grep -E '^(ERROR|Querying|Received)' "$work/log-dirs.out" || true
    echo "exit $status"
}

# reassign JSON-FILE ACTION: kafka-reassign-partitions' outcome on the caller's bootstrap `b`,
# normalised (the rollback JSON's log dirs are paths on each side).
reassign() {
    local status=0
    "$run" org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server "$b" \
        --reassignment-json-file "$1" "--$2" --command-config "$work/client.properties" \
        >"$work/reassign.out" 2>&1 || status=$?
    grep -vE '^\s*$|^\s+at |WARN' "$work/reassign.out" |
        sed -E 's/"log_dirs":\[[^]]*\]/"log_dirs":(dirs)/g' | exceptions
    echo "exit $status"
}

# kafka-reassign-partitions on a cluster of 3 brokers (one broker: reassign_one_broker): `moves` (partitions
# on 1,2 and 2,3, 10 records) moved to 2,3 and 3,1 with --execute, --verify until done,
# then kafka-topics --describe and the records' offsets; then a move to an unknown broker
# and a --cancel with nothing in progress. The log dirs in --execute's rollback JSON are
# paths on each side: shown as "(dirs)".
tool_reassign() {
    local b="$1" nodes="$2"
    if [[ "$nodes" == 1 ]]; then
        reassign_one_broker "$b"
        return
    fi
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --create --topic moves \
        --replica-assignment 1:2,2:3 >/dev/null
    # Keyed records: the producer's partitioner (murmur2 of the key, in the client) puts them
    # on the same partitions on both sides; unkeyed, its sticky partitioner picks one at
    # random, and the offsets after the move would differ from run to run.
    seq 1 10 | sed 's/.*/k&:v&/' | tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$b" \
        --topic moves --command-property acks=all --reader-property parse.key=true \
        --reader-property key.separator=: >/dev/null
    printf '%s\n' '{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[2,3]},{"topic":"moves","partition":1,"replicas":[3,1]}]}' \
        >"$work/moves.json"
    echo "--execute:"
    reassign "$work/moves.json" execute
    local deadline=$((SECONDS + 60))
    until reassign "$work/moves.json" verify | grep -q 'partition moves-1 is completed' &&
        reassign "$work/moves.json" verify | grep -q 'partition moves-0 is completed' ||
        ((SECONDS > deadline)); do sleep 1; done
    echo "--verify:"
    reassign "$work/moves.json" verify
    local deadline=$((SECONDS + 30))
    until [[ "$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --describe --topic moves \
        --under-replicated-partitions | wc -l)" -eq 0 ]] || ((SECONDS > deadline)); do sleep 0.5; done
    echo "describe moves:"
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --describe --topic moves |
        sed -E 's/TopicId: [^\t ]+/TopicId: ID/' |
        awk "$awk_sorted"'{ for (i = 1; i <= NF; i++) if ($i == "Isr:") $(i + 1) = sorted($(i + 1)); print }'
    echo "offsets: $(tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$b" --topic moves --time -1 | sort | tr '\n' ' ')"
    printf '%s\n' '{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[2,9]}]}' >"$work/unknown.json"
    echo "--execute to an unknown broker:"
    reassign "$work/unknown.json" execute
    echo "--cancel with nothing in progress:"
    reassign "$work/moves.json" cancel
}

# kafka-reassign-partitions on one broker: the only placement is the one there is, so a
# "move" to broker 1 completes at once (--execute, --verify), a move to broker 2 names an
# unknown broker, and --cancel finds nothing in progress.
reassign_one_broker() {
    local b="$1"
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --create --topic moves \
        --partitions 1 --replication-factor 1 >/dev/null
    printf '%s\n' '{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[1]}]}' \
        >"$work/moves.json"
    echo "--execute to where it is:"
    reassign "$work/moves.json" execute
    echo "--verify:"
    reassign "$work/moves.json" verify
    printf '%s\n' '{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[2]}]}' >"$work/unknown.json"
    echo "--execute to an unknown broker:"
    reassign "$work/unknown.json" execute
    echo "--cancel with nothing in progress:"
    reassign "$work/moves.json" cancel
}

# ---- comparing -----------------------------------------------------------------------

# compare TOOL NODES: the tool's normalised outcome on reference:NODES and on Kafka.
compare() {
    local name="$1" nodes="$2" fn="tool_${1//-/_}"
    checks=$((checks + 1))
    start_reference "$nodes"
    "$fn" "$bootstrap" "$nodes" >"$work/$name-$nodes.reference"
    stop_reference
    start_kafka "$nodes"
    "$fn" "$bootstrap" "$nodes" >"$work/$name-$nodes.kafka"
    stop_kafka
    if diff -u "$work/$name-$nodes.kafka" "$work/$name-$nodes.reference" >"$work/$name-$nodes.diff"; then
        log "same: $name on $nodes broker(s)"
        sed 's/^/    /' "$work/$name-$nodes.kafka" >&2
    else
        failures=$((failures + 1))
        log "DIFFERENT: $name on $nodes broker(s) (--- Kafka, +++ reference):"
        cat "$work/$name-$nodes.diff" >&2
    fi
}

case "$nodes_wanted" in
    1) sizes=(1) ;;
    3) sizes=(3) ;;
    both) sizes=(1 3) ;;
    *) log "--nodes must be 1, 3 or both"; exit 2 ;;
esac
tools=(delete-records topics-describe metadata-quorum log-dirs reassign)
[[ "$only" == all ]] || IFS=, read -r -a tools <<<"$only"
for t in "${tools[@]}"; do
    declare -F "tool_${t//-/_}" >/dev/null || { log "unknown tool '$t'"; exit 2; }
done

[[ " ${tools[*]} " != *" log-dirs "* ]] || command -v jq >/dev/null ||
    { log "log-dirs needs jq (apt-get install jq), or leave it out with --only"; exit 2; }
"$root/ci/kafka/fetch.sh" >&2
if [[ -n "$target" ]]; then
    [[ ${#sizes[@]} -eq 1 ]] || { log "--bootstrap needs --nodes 1 or 3"; exit 2; }
    for t in "${tools[@]}"; do
        echo "== $t"
        "tool_${t//-/_}" "$target" "${sizes[0]}"
    done
    exit 0
fi
if [[ -z "${KAFKA_SPEC_BIN:-}" ]]; then
    log "building: cargo build -p kafka-spec"
    (cd "$root" && cargo build -q -p kafka-spec)
    KAFKA_SPEC_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/kafka-spec"
fi

for nodes in "${sizes[@]}"; do
    for t in "${tools[@]}"; do
        compare "$t" "$nodes"
    done
done
[[ " ${sizes[*]} " == *" 3 "* && " ${tools[*]} " == *" metadata-quorum "* ]] &&
    log "note: on 3 brokers the reference's quorum is 1 voter + 2 observers, Kafka's 3 voters (compared as members only)"
log "$((checks - failures)) of $checks comparisons the same"
((failures == 0))
