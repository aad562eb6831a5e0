#!/usr/bin/env bash
# Runs one class from the cached Kafka jars (fetching them first if needed),
# with a small heap and WARN-level logging to stderr: Kafka's own command-line
# tools without Kafka's bin/ scripts.
#
# Usage: ci/kafka/run-class.sh CLASS [ARGS...]
#   e.g. ci/kafka/run-class.sh org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:19092 --list
# Env: KAFKA_VERSION, KAFKA_CACHE_DIR, JAVA_HOME (as fetch.sh / start.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  '' | -h | --help)
    usage_of "$0"
    [ -n "${1:-}" ] && exit 0
    exit 2
    ;;
esac
find_java
ensure_libs
run_tool "$@"
