#!/usr/bin/env bash
# Copies the runtime jars of Apache Kafka (version pinned in pom.xml, or
# $KAFKA_VERSION) from Maven Central into $KAFKA_CACHE_DIR/libs
# (default ~/.cache/kafka-spec/kafka-<version>/libs).
#
# Idempotent: a complete libs dir (marker file libs/.complete listing every
# jar) is left alone. Tries Maven offline first (the local ~/.m2 may already
# hold everything), then online. The jars land in a temporary directory that
# is renamed into place only when complete, so an interrupted run leaves
# nothing half-done behind.
#
# Usage: ci/kafka/fetch.sh        (env: KAFKA_VERSION, KAFKA_CACHE_DIR, MVN, MVN_ARGS)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  -h | --help)
    usage_of "$0"
    exit 0
    ;;
  '') ;;
  *) die "fetch.sh takes no arguments (got '$1'); see --help" ;;
esac

start=$(now_ms)
if libs_complete; then
  echo "kafka $KAFKA_VER: $KAFKA_LIBS already complete ($(($(wc -l <"$KAFKA_MARKER") - 1)) jars), nothing to do ($(elapsed_s "$start") s)"
  exit 0
fi

MVN="${MVN:-mvn}"
command -v "$MVN" >/dev/null 2>&1 || die "Maven ($MVN) not found: it fetches the Kafka jars from Maven Central.
  apt-get install maven   (needs a JDK too: apt-get install openjdk-17-jdk-headless)"

mkdir -p "$KAFKA_HOME_DIR"
tmp="$(mktemp -d "$KAFKA_HOME_DIR/libs.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2206
extra=(${MVN_ARGS:-})
mvn_copy() {
  "$MVN" -B -q "$@" "${extra[@]}" -f "$KAFKA_CI_HERE/pom.xml" \
    -Dkafka.version="$KAFKA_VER" -Dkafka.libs.dir="$tmp" \
    dependency:copy-dependencies
}

log="$tmp.mvn.log"
if mvn_copy -o >"$log" 2>&1; then
  how="offline, from the local Maven repository"
else
  rm -rf "${tmp:?}"/*
  echo "kafka $KAFKA_VER: not all jars in the local Maven repository, fetching from Maven Central" >&2
  if ! mvn_copy >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "Maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VER and its dependencies (output above)"
  fi
  how="online, from Maven Central"
fi
rm -f "$log"

ls "$tmp"/kafka_2.13-"$KAFKA_VER".jar >/dev/null 2>&1 || die "kafka_2.13-$KAFKA_VER.jar missing after Maven ran"
{
  echo "kafka $KAFKA_VER"
  (cd "$tmp" && ls -1 -- *.jar)
} >"$tmp/.complete"

# Another fetch may have finished meanwhile; keep whichever landed first.
if libs_complete; then
  echo "kafka $KAFKA_VER: $KAFKA_LIBS completed by another run ($(elapsed_s "$start") s)"
  exit 0
fi
rm -rf "$KAFKA_LIBS"
mv "$tmp" "$KAFKA_LIBS"
trap - EXIT

jars=$(($(wc -l <"$KAFKA_MARKER") - 1))
size="$(du -sh "$KAFKA_LIBS" | cut -f1)"
echo "kafka $KAFKA_VER: $jars jars ($size) in $KAFKA_LIBS, $how, in $(elapsed_s "$start") s"
