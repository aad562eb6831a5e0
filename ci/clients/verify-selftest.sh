#!/usr/bin/env bash
# Self-test of ci/clients/verify.awk, run by ci/clients.sh before any check: a correct
# read-back must pass, and each kind of wrong one (a record lost, duplicated, reordered,
# moved to another partition, with another key, an offset gap, an extra record in the log,
# an aborted record seen by read_committed, a marker missing or misplaced) must fail.
# Prints "verify.awk self-test: N passed, 0 failed" or the cases that went wrong; exit 1 then.
# shellcheck disable=SC2001 # sed with anchors reads better than ${var//...} here
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
awk_file="$here/verify.awk"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/verify-selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# 8 records, keys k0..k3 (k0,k2 -> partition 0; k1,k3 -> partition 1), first half committed.
printf '%s\n' 0$'\t'k0$'\t'v0$'\t'c 1$'\t'k1$'\t'v1$'\t'c 2$'\t'k2$'\t'v2$'\t'c 3$'\t'k3$'\t'v3$'\t'c \
    4$'\t'k0$'\t'v4$'\t'a 5$'\t'k1$'\t'v5$'\t'a 6$'\t'k2$'\t'v6$'\t'a 7$'\t'k3$'\t'v7$'\t'a >"$tmp/expected"

# Plain (idempotent) read-back: offsets 0.. per partition.
plain=$'0\t0\tk0\tv0\n0\t1\tk2\tv2\n0\t2\tk0\tv4\n0\t3\tk2\tv6\n1\t0\tk1\tv1\n1\t1\tk3\tv3\n1\t2\tk1\tv5\n1\t3\tk3\tv7'
plain_ends=$'0\t4\n1\t4'
# Transactional read-back: marker after each transaction (offsets 2 and 5 in each partition).
txn=$'0\t0\tk0\tv0\n0\t1\tk2\tv2\n0\t3\tk0\tv4\n0\t4\tk2\tv6\n1\t0\tk1\tv1\n1\t1\tk3\tv3\n1\t3\tk1\tv5\n1\t4\tk3\tv7'
txn_ends=$'0\t6\n1\t6'
committed=$'0\t0\tk0\tv0\n0\t1\tk2\tv2\n1\t0\tk1\tv1\n1\t1\tk3\tv3'

# case NAME WANT(pass|fail) MODE-ARGS RECORDS [ENDS]
case_() {
    local name="$1" want="$2" args="$3" recs="$4" ends="${5-}" got files
    printf '%s\n' "$recs" >"$tmp/records"
    files=("$tmp/expected" "$tmp/records")
    if [[ -n "$ends" ]]; then
        printf '%s\n' "$ends" >"$tmp/ends"
        files+=("$tmp/ends")
    fi
    # shellcheck disable=SC2086 # args holds several -v options
    if out="$(awk -F '\t' $args -f "$awk_file" "${files[@]}" 2>&1)"; then got=pass; else got=fail; fi
    [[ -n "${SELFTEST_VERBOSE:-}" ]] && printf "%s -> %s: %s\n" "$name" "$got" "$out" >&2
    if [[ "$got" == "$want" ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        printf 'verify.awk self-test: %s: wanted %s, got %s: %s\n' "$name" "$want" "$got" "$out" >&2
    fi
}

strict="-v mode=records -v want=all -v contiguous=1"
loose="-v mode=records -v want=all -v contiguous=0"
committed_only="-v mode=records -v want=c -v contiguous=0"
markers="-v mode=markers"

case_ "plain read-back" pass "$strict" "$plain" "$plain_ends"
case_ "plain: a record lost" fail "$strict" "$(sed '$d' <<<"$plain")" $'0\t4\n1\t3'
case_ "plain: a record twice" fail "$strict" "$plain"$'\n1\t4\tk3\tv7' $'0\t4\n1\t5'
case_ "plain: order not kept" fail "$strict" "$(sed 's/\tk0\tv0$/\tk0\tvX/; s/\tk0\tv4$/\tk0\tv0/; s/\tvX$/\tv4/' <<<"$plain")" "$plain_ends"
case_ "plain: key on two partitions" fail "$strict" "$(sed 's/^1\t3\tk3\tv7$/0\t4\tk3\tv7/' <<<"$plain")" $'0\t5\n1\t3'
case_ "plain: wrong key" fail "$strict" "$(sed 's/k1\tv5/k3\tv5/' <<<"$plain")" "$plain_ends"
case_ "plain: offset gap" fail "$strict" "$(sed 's/^1\t3\t/1\t4\t/' <<<"$plain")" $'0\t4\n1\t5'
case_ "plain: more in the log than read" fail "$strict" "$plain" $'0\t4\n1\t5'
case_ "plain: unexpected record" fail "$strict" "$plain"$'\n1\t4\tk9\tzz' $'0\t4\n1\t5'
case_ "transactional: read_uncommitted" pass "$loose" "$txn"
case_ "transactional: read_committed" pass "$committed_only" "$committed"
case_ "transactional: read_committed sees an aborted record" fail "$committed_only" "$committed"$'\n1\t3\tk1\tv5'
case_ "transactional: read_committed misses one" fail "$committed_only" "$(sed '$d' <<<"$committed")"
case_ "transactional: markers" pass "$markers" "$txn" "$txn_ends"
case_ "transactional: no marker between" fail "$markers" "$plain" "$plain_ends"
case_ "transactional: no marker at the end" fail "$markers" "$txn" $'0\t5\n1\t6'
case_ "transactional: gap inside a transaction" fail "$markers" "$(sed 's/^0\t1\t/0\t2\t/; s/^0\t3\t/0\t4\t/; s/^0\t4\tk2/0\t5\tk2/' <<<"$txn")" $'0\t7\n1\t6'

printf 'verify.awk self-test: %d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]]
