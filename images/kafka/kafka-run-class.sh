#!/usr/bin/env bash
# Runs one Kafka main class on /opt/kafka/libs. This image carries Maven Central's jars, not the release's
# scripts; this launcher reads the same variables they do: KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS,
# KAFKA_LOG4J_OPTS, KAFKA_OPTS (each a space-separated list of JVM options).
set -euo pipefail
base=$(cd "$(dirname "$0")/.." && pwd)
main=$1
shift
# shellcheck disable=SC2086 # the option lists are meant to split into words
exec java ${KAFKA_HEAP_OPTS:--Xmx256M} \
  ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true} \
  ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base/config/tools-log4j2.properties} \
  ${KAFKA_OPTS:-} -Dkafka.logs.dir="${LOG_DIR:-$base/logs}" -cp "$base/libs/*" "$main" "$@"
