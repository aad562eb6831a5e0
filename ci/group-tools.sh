#!/usr/bin/env bash
# Kafka's consumer group tool, `kafka-consumer-groups` (4.3.1, from Maven Central:
# ci/kafka/fetch.sh; class org.apache.kafka.tools.consumer.group.ConsumerGroupCommand), against
# the reference broker (1 and 3 brokers) and against real Kafka (1 and 3 nodes), next to live
# Java consumers: every command's output and exit status, normalised (ids, ports), must be the
# same on both.
#
# Usage: ci/group-tools.sh [--nodes 1|3|both] [--only SECTION[,SECTION...]] [--bootstrap HOST:PORT]
#   --nodes      cluster sizes to compare (default both: reference:1 vs Kafka 1 node, then
#                reference:3 vs Kafka 3 nodes)
#   --only       sections (default all, in this order): consumer-group, classic-group,
#                assignors, migration, missing-group
#   --bootstrap  no comparison: print each section's normalised outcome on this running
#                cluster of --nodes brokers (which must not have the sections' topics yet)
#
# One function per section (`section_<name> NODES`), each printing the commands of
# ci/group-tools/GroupToolDriver.java, which runs ConsumerGroupCommand.main many times in one
# JVM (one JVM start per cluster instead of one per command) next to two live KafkaConsumers
# per group (client ids member-a and member-b; member-a joins first and holds every
# partition before member-b joins, so that the assignors' placement is the same on every
# run). The sections run in order on one fresh cluster per side and size (Kafka starting in
# the background while the reference's side runs); `compare` diffs each section's normalised
# outcome. The sections:
# - consumer-group: a KIP-848 group (`group.protocol=consumer`) `cg` of two members on
#   `orders` (4 partitions, 40 keyed records read and committed, then 8 more: a lag on every
#   partition): `--list`, `--list --type consumer|classic`, `--list --state Stable`;
#   `--describe` (the offsets view, also `--offsets --verbose`), `--describe --members
#   [--verbose]` (partition counts, member and target epochs and assignments), `--describe
#   --state [--verbose]` (assignor, state, member count, group and assignment epochs);
#   `--reset-offsets` and `--delete-offsets` refused while members are live; after both
#   left (Empty): `--describe`, `--members`, `--state --verbose`, `--reset-offsets`
#   (`--to-offset`, `--dry-run` and `--execute`, `--shift-by` below the start),
#   `--delete-offsets` of one partition, `--describe` again; `--reset-offsets` `--export`
#   (CSV), `--to-datetime` in the past, `--by-duration PT0S` (every partition's latest,
#   with a warning each), `--to-latest`; `--reset-offsets` and `--delete-offsets` of a
#   missing topic, `--delete-offsets` of a missing group.
# - classic-group: the same for a classic group (`group.protocol=classic`) `cl` on
#   `payments` (3 partitions, 1 record read and committed, then 6 more: partitions without
#   a committed offset show `-`), with `cg` (Empty) still there for the lists (`--list
#   --type`, `--list --state Stable|Empty`); `--delete` refused while members are live;
#   after they left: the three describes, `--delete`, `--describe` of the deleted group,
#   `--list --state`; then `--reset-offsets --to-latest --execute` for a group that does not
#   exist (it is made, with offsets only), `--list --state Stable,Empty`, its describes, and
#   `--describe --all-groups` (`--state` and offsets).
# - assignors: a KIP-848 group `cr` with the server-side `range` assignor
#   (group.remote.assignor) and a classic group `cs` with the CooperativeStickyAssignor, both
#   of static members (group.instance.id = the client id: range orders static members by
#   instance id, so its placement does not depend on random member ids) on `refunds` (5
#   partitions): `--describe --members --verbose` (with GROUP-INSTANCE-ID), `--state
#   --verbose`; after they left with CloseOptions LEAVE_GROUP (KIP-1092: static members
#   leave too), `--state` (the assignor an Empty group reports).
# - migration: a rolling upgrade (KIP-848's online migration) of group `mg` on `upgrades` (4
#   partitions): a classic member-a holds every partition, then member-b joins with
#   `group.protocol=consumer`, upgrading the live group; `--list --type`, `--describe
#   --members --verbose`, `--state --verbose`; member-b leaves (the group is classic again),
#   `--list --type`, `--members`, `--state`; both gone, `--state`.
# - missing-group: `--describe` (offsets, `--members`, `--state`) and `--delete` of a group
#   that never existed (the tool prints an error and still exits 0, on both).
#
# Normalised (and why), everything else compared as printed:
# - member ids (CONSUMER-ID): random (KIP-848: a UUID; classic: client id + UUID); each is
#   replaced by `ID(<its CLIENT-ID>)`, so which member holds which partition is still
#   compared;
# - the coordinator's host:port and id (`COORDINATOR (ID)`): the ports differ, and on 3
#   brokers so may the broker that leads the group's __consumer_offsets partition; shown as
#   `HOST:PORT (a broker)` when the id is one of the cluster's 1..NODES;
# - runs of blanks (the tool pads columns to the longest value) are squeezed to one;
# - the rows of each table are sorted: the tool prints members in the coordinator's hash or
#   map order, which is not part of the protocol;
# - Java stack-trace frames of the tool's own errors (`at ...`, `... N more`): the exception
#   lines themselves are kept.
# Nothing else: offsets, log-end offsets, lag, client ids, hosts, partition counts and
# assignments, epochs, assignor names, states, member counts, messages and exit statuses are
# compared.
#
# Needs only what ci/kafka/fetch.sh and a Rust toolchain give: java 17+ (a JDK: the driver
# runs as a source file), the jars, cargo.
# Environment:
#   KAFKA_SPEC_BIN          the kafka-spec binary (default: cargo build -p kafka-spec)
#   GROUP_TOOLS_BASE_PORT   Kafka's broker port base (default 25092; 3 nodes use +200)
#   GROUP_TOOLS_REFERENCE_PORT  the reference's first port (default 0: any free port)
#   GROUP_TOOLS_DEADLINE_S  the driver's deadline per cluster (default 120)
#   GROUP_TOOLS_KEEP        1: keep the scratch directory
set -euo pipefail
shopt -s inherit_errexit

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="$root/ci/kafka/run-class.sh"
driver="$root/ci/group-tools/GroupToolDriver.java"
base_port="${GROUP_TOOLS_BASE_PORT:-25092}"
ref_port="${GROUP_TOOLS_REFERENCE_PORT:-0}"
deadline_s="${GROUP_TOOLS_DEADLINE_S:-120}"
nodes_wanted=both
only=all
target=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --nodes) nodes_wanted="${2:?--nodes needs 1, 3 or both}"; shift 2 ;;
        --only) only="${2:?--only needs a section list}"; shift 2 ;;
        --bootstrap) target="${2:?--bootstrap needs HOST:PORT}"; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "group-tools: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

work="$(mktemp -d "${TMPDIR:-/tmp}/group-tools.XXXXXX")"
ref_pid=""
kafka_dir=""
failures=0
checks=0

log() { printf 'group-tools: %s\n' "$*" >&2; }

cleanup() {
    local rc=$?
    stop_reference
    stop_kafka
    # Kept when asked, or when something failed (2 is bad usage: nothing to see there).
    if [[ "${GROUP_TOOLS_KEEP:-0}" == 1 || ($rc -ne 0 && $rc -ne 2) ]]; then
        log "scratch directory kept: $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT

# ---- clusters ------------------------------------------------------------------------

# The group settings ci/kafka/start.sh gives Kafka that the reference honours: no initial
# rebalance delay (Kafka's default is 3 s), 3 __consumer_offsets partitions.
reference_configs=(--config group.initial.rebalance.delay.ms=0 --config offsets.topic.num.partitions=3)

start_reference() { # NODES: sets `bootstrap`
    local nodes="$1" out="$work/reference-$1.stdout"
    "$KAFKA_SPEC_BIN" serve --port "$ref_port" --brokers "$nodes" "${reference_configs[@]}" \
        >"$out" 2>"$work/reference-$nodes.stderr" </dev/null &
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

# Kafka starts in the background while the reference's side runs (its JVMs take half a
# minute on two cores; the reference's side mostly waits on heartbeats): launch_kafka, then
# start_kafka waits for it.
kafka_start_pid=""
launch_kafka() { # NODES
    local nodes="$1" port=$((base_port + ($1 - 1) * 100))
    kafka_dir="$work/kafka-$nodes"
    "$root/ci/kafka/start.sh" --nodes "$nodes" --dir "$kafka_dir" --base-port "$port" \
        >"$work/kafka-start-$nodes.stdout" 2>>"$work/kafka-start.stderr" </dev/null &
    kafka_start_pid=$!
}

start_kafka() { # NODES: sets `bootstrap`
    local nodes="$1" status=0
    [[ -n "$kafka_start_pid" ]] || launch_kafka "$nodes"
    wait "$kafka_start_pid" || status=$?
    kafka_start_pid=""
    ((status == 0)) || { log "Kafka did not start"; tail -30 "$work/kafka-start.stderr" >&2; exit 1; }
    bootstrap="$(sed -n 's/^bootstrap: //p' "$work/kafka-start-$nodes.stdout")"
    log "Kafka $nodes node(s) at $bootstrap"
}

stop_kafka() {
    if [[ -n "$kafka_start_pid" ]]; then
        wait "$kafka_start_pid" 2>/dev/null || true
        kafka_start_pid=""
    fi
    [[ -n "$kafka_dir" ]] || return 0
    "$root/ci/kafka/stop.sh" --dir "$kafka_dir" >/dev/null 2>&1 || true
    kafka_dir=""
}

# ---- the sections (driver commands) ---------------------------------------------------

# The describes of one group: offsets, members, state, the last two also --verbose.
describes() {
    local g="$1"
    echo "tool --describe --group $g"
    echo "tool --describe --group $g --members"
    echo "tool --describe --group $g --members --verbose"
    echo "tool --describe --group $g --state"
    echo "tool --describe --group $g --state --verbose"
}

section_consumer_group() {
    local nodes="$1"
    cat <<EOF
create orders 4 $nodes
produce orders 40
members consumer cg orders
produce orders 8
tool --list
tool --list --type consumer
tool --list --type classic
tool --list --state Stable
EOF
    describes cg
    cat <<EOF
tool --describe --group cg --offsets --verbose
tool --delete --group cg
tool --reset-offsets --group cg --topic orders --to-earliest --dry-run
tool --delete-offsets --group cg --topic orders
leave cg
tool --describe --group cg
tool --describe --group cg --members
tool --describe --group cg --state --verbose
tool --reset-offsets --group cg --topic orders:0,1 --to-offset 2 --dry-run
tool --reset-offsets --group cg --topic orders:0,1 --to-offset 2 --execute
tool --reset-offsets --group cg --topic orders:2 --shift-by -100 --execute
tool --delete-offsets --group cg --topic orders:3
tool --describe --group cg
tool --describe --group cg --state --verbose
tool --reset-offsets --group cg --all-topics --to-current --dry-run --export
tool --reset-offsets --group cg --topic orders --to-datetime 2000-01-01T00:00:00.000 --dry-run
tool --reset-offsets --group cg --topic orders --by-duration PT0S --dry-run
tool --reset-offsets --group cg --topic orders:1 --to-latest --dry-run
tool --reset-offsets --group cg --topic nosuch --to-earliest --dry-run
tool --delete-offsets --group cg --topic nosuch
tool --delete-offsets --group nosuch --topic orders
EOF
}

section_classic_group() {
    local nodes="$1"
    cat <<EOF
create payments 3 $nodes
produce payments 1
members classic cl payments
produce payments 6
tool --list
tool --list --type
tool --list --type consumer
tool --list --type classic
tool --list --state Stable
tool --list --state Empty
EOF
    describes cl
    cat <<EOF
tool --delete --group cl
leave cl
tool --describe --group cl
tool --describe --group cl --members
tool --describe --group cl --state
tool --delete --group cl
tool --describe --group cl
tool --list --state
tool --reset-offsets --group fresh --topic payments --to-latest --execute
tool --list --type
tool --list --state Stable,Empty
tool --describe --group fresh
tool --describe --group fresh --state --verbose
tool --describe --all-groups --state
tool --describe --all-groups
tool --delete --group cg --group fresh
tool --list
EOF
}

# Other assignors: KIP-848's server-side `range` (group.remote.assignor) and the classic
# client-side CooperativeStickyAssignor, two static members (group.instance.id = client id:
# range orders members by instance id, so the placement is the same on every run) each on
# one topic; they leave with CloseOptions LEAVE_GROUP (KIP-1092).
section_assignors() {
    local nodes="$1"
    cat <<EOF
create refunds 5 $nodes
produce refunds 20
members consumer cr refunds group.remote.assignor=range group.instance.id={client}
members classic cs refunds partition.assignment.strategy=org.apache.kafka.clients.consumer.CooperativeStickyAssignor group.instance.id={client}
tool --describe --group cr --members --verbose
tool --describe --group cr --state --verbose
tool --describe --group cs --members --verbose
tool --describe --group cs --state --verbose
leave cr
leave cs
tool --describe --group cr --state
tool --describe --group cs --state
EOF
}

# A rolling upgrade (KIP-848's online migration): a classic member-a holds every partition of
# `upgrades`, then member-b joins with group.protocol=consumer, which turns the live group into
# a consumer group with a classic member; when member-b leaves, the group is classic again.
section_migration() {
    local nodes="$1"
    cat <<EOF
create upgrades 4 $nodes
produce upgrades 16
members migration mg upgrades
tool --list --type
tool --describe --group mg --members --verbose
tool --describe --group mg --state --verbose
leave-member mg member-b
tool --list --type
tool --describe --group mg --members
tool --describe --group mg --state
leave mg
tool --describe --group mg --state
EOF
}

section_missing_group() {
    cat <<EOF
tool --describe --group nosuch
tool --describe --group nosuch --members
tool --describe --group nosuch --state
tool --delete --group nosuch
EOF
}

# ---- running and normalising ----------------------------------------------------------

# outcome BOOTSTRAP NODES: the selected sections' commands through the driver, normalised
# (see the header), each section headed by `== NAME`.
outcome() {
    local b="$1" nodes="$2" s status=0
    for s in "${sections[@]}"; do
        echo "echo == $s"
        "section_${s//-/_}" "$nodes"
    done >"$work/commands"
    local started=$SECONDS
    echo "== driver on $b" >>"$work/driver.stderr"
    "$run" "$driver" "$b" "$deadline_s" <"$work/commands" >"$work/driver.out" 2>>"$work/driver.stderr" || status=$?
    log "the driver ran for $((SECONDS - started)) s (each step's start: $work/driver.stderr)"
    normalise "$nodes" <"$work/driver.out"
    echo "driver exit $status"
}

normalise() {
    awk -v nodes="$1" '
        function flush() { if (rows) close("sort"); rows = 0 }
        { $1 = $1 }
        /^stderr: (at |\.\.\. [0-9]+ more)/ { next }
        {
            for (i = 1; i < NF; i++) {
                if ($i ~ /^[0-9.]+:[0-9]+$/ && $(i + 1) ~ /^\([0-9]+\)$/) {
                    id = substr($(i + 1), 2, length($(i + 1)) - 2) + 0
                    $i = "HOST:PORT"
                    $(i + 1) = (id >= 1 && id <= nodes) ? "(a broker)" : "(not a broker: " id ")"
                }
            }
        }
        # A table header names the columns: where CONSUMER-ID and CLIENT-ID are.
        /^GROUP / {
            flush(); print; table = 1; member_col = 0; client_col = 0
            for (i = 1; i <= NF; i++) {
                if ($i == "CONSUMER-ID") member_col = i
                if ($i == "CLIENT-ID") client_col = i
            }
            next
        }
        table && NF > 0 && $0 !~ /^(stderr:|exit |\$ |== |info |error )/ {
            if (member_col && client_col && $member_col != "-") $member_col = "ID(" $client_col ")"
            print | "sort"; rows = 1; next
        }
        { flush(); table = 0; print }
        END { flush() }'
}

# ---- comparing -----------------------------------------------------------------------

# compare NODES: every section's outcome on reference:NODES and on Kafka, diffed per section.
compare() {
    local nodes="$1" side s
    launch_kafka "$nodes"
    for side in reference kafka; do
        "start_$side" "$nodes"
        outcome "$bootstrap" "$nodes" >"$work/all-$nodes.$side"
        "stop_$side"
        # One file per section (the driver's exit status goes with the last).
        awk -v dir="$work" -v nodes="$nodes" -v side="$side" '
            /^== / { f = dir "/" $2 "-" nodes "." side }
            f { print > f }' "$work/all-$nodes.$side"
    done
    for s in "${sections[@]}"; do
        checks=$((checks + 1))
        if diff -u "$work/$s-$nodes.kafka" "$work/$s-$nodes.reference" >"$work/$s-$nodes.diff"; then
            log "same: $s on $nodes broker(s)"
            sed 's/^/    /' "$work/$s-$nodes.kafka" >&2
        else
            failures=$((failures + 1))
            log "DIFFERENT: $s on $nodes broker(s) (--- Kafka, +++ reference):"
            cat "$work/$s-$nodes.diff" >&2
        fi
    done
}

case "$nodes_wanted" in
    1) sizes=(1) ;;
    3) sizes=(3) ;;
    both) sizes=(1 3) ;;
    *) log "--nodes must be 1, 3 or both"; exit 2 ;;
esac
sections=(consumer-group classic-group assignors migration missing-group)
if [[ "$only" != all ]]; then
    IFS=, read -r -a wanted <<<"$only"
    for s in "${wanted[@]}"; do
        declare -F "section_${s//-/_}" >/dev/null || { log "unknown section '$s'"; exit 2; }
    done
    # Always in the documented order: classic-group lists what consumer-group left.
    kept=()
    for s in "${sections[@]}"; do
        [[ " ${wanted[*]} " == *" $s "* ]] && kept+=("$s")
    done
    sections=("${kept[@]}")
fi

"$root/ci/kafka/fetch.sh" >&2
if [[ -n "$target" ]]; then
    [[ ${#sizes[@]} -eq 1 ]] || { log "--bootstrap needs --nodes 1 or 3"; exit 2; }
    outcome "$target" "${sizes[0]}"
    exit 0
fi
if [[ -z "${KAFKA_SPEC_BIN:-}" ]]; then
    log "building: cargo build -p kafka-spec"
    (cd "$root" && cargo build -q -p kafka-spec)
    KAFKA_SPEC_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/kafka-spec"
fi

for nodes in "${sizes[@]}"; do
    compare "$nodes"
done
log "$((checks - failures)) of $checks comparisons the same"
((failures == 0))
