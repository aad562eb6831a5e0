#!/usr/bin/env bash
# Regenerates the committed conformance report, features/CONFORMANCE.md: every scenario on
# the reference and on real Apache Kafka (one node, then three), traces compared.
#
# The reference side is the reference cluster of three brokers (`reference:3`), not the single
# broker (`reference`): only a cluster runs the multi-broker scenarios (replication, failover,
# faults), which the single broker skips, so only then does every row of the report have a
# reference result. The single broker's traces are held to the same recordings by
# `cargo test -p kafka-spec --test features` and live by ci/kafka-diff.sh.
#
# Usage: ci/conformance-report.sh [extra kafka-spec diff arguments]
# Env:   KAFKA_SPEC_BIN  a kafka-spec binary to use (default: `cargo run -q -p kafka-spec --`,
#                        the debug build `cargo test` already made)
#        REPORT          where to write (default: features/CONFORMANCE.md)
#        REFERENCE       the reference side (default: reference:3)
# Needs Java 17+ and Maven (the first run fetches Kafka's jars); see ci/kafka/README.md.
# Exits non-zero if any scenario fails anywhere or differs without a listed reason; the
# report is written either way.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [[ -n "${KAFKA_SPEC_BIN:-}" ]]; then
    kafka_spec=("$KAFKA_SPEC_BIN")
else
    kafka_spec=(cargo run -q -p kafka-spec --)
fi
exec "${kafka_spec[@]}" diff --a "${REFERENCE:-reference:3}" --b kafka-local --b kafka-local:3 \
    --report "${REPORT:-features/CONFORMANCE.md}" "$@"
