#!/usr/bin/env bash
# Regenerates fixtures/partitioning/murmur2.tsv from Apache Kafka's own Java client.
#
# Needs: Java 17+ and Maven 3.8+. Maven runs offline first (-o, from ~/.m2) and falls back
# to an online build only when something is missing from the local repository.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/fixtures/partitioning/murmur2.tsv"

cd "$here"

build() {
    mvn -q -B -Dstyle.color=never "$@" compile dependency:build-classpath \
        -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime
}

mkdir -p target
log=target/mvn.log
if ! build -o >"$log" 2>&1; then
    echo "generate.sh: offline build failed; building online (this downloads from Maven Central)" >&2
    if ! build >"$log" 2>&1; then
        cat "$log" >&2
        echo "generate.sh: maven build failed" >&2
        exit 1
    fi
fi

mkdir -p "$(dirname "$out")"
tmp="$(mktemp "$out.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
java -cp "target/classes:$(cat target/classpath.txt)" kafkaspec.Murmur2Vectors > "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "generate.sh: wrote $out ($(grep -vc '^#' "$out") vectors)" >&2
