#!/usr/bin/env bash
# The Spark image's entrypoint (the official image's contract, which Spark on Kubernetes relies on):
#   driver ARGS...    spark-submit in client mode inside the driver pod, bound to SPARK_DRIVER_BIND_ADDRESS
#   executor          a KubernetesExecutorBackend from the SPARK_EXECUTOR_* / SPARK_DRIVER_URL variables
#                     that Spark's executor pod spec sets
#   anything else     run as given
# Under tini, so signals reach Spark and zombies are reaped.
set -euo pipefail
export SPARK_HOME=${SPARK_HOME:-/opt/spark}
classpath="$SPARK_HOME/jars/*"
if [ -n "${SPARK_EXTRA_CLASSPATH:-}" ]; then classpath="$classpath:$SPARK_EXTRA_CLASSPATH"; fi
if [ -n "${HADOOP_CONF_DIR:-}" ]; then classpath="$HADOOP_CONF_DIR:$classpath"; fi
if [ -n "${SPARK_CONF_DIR:-}" ]; then classpath="$SPARK_CONF_DIR:$classpath"; fi
if [ -n "${PYSPARK_PYTHON:-}" ]; then export PYSPARK_PYTHON; fi
if [ -n "${PYSPARK_DRIVER_PYTHON:-}" ]; then export PYSPARK_DRIVER_PYTHON; fi
# Spark passes executor JVM options as SPARK_JAVA_OPT_0, _1, ... in that order.
java_opts=()
while IFS= read -r name; do java_opts+=("${!name}"); done \
  < <(compgen -e | sed -n 's/^\(SPARK_JAVA_OPT_[0-9]*\)$/\1/p' | sort -t_ -k4 -n)

case "${1:-}" in
  driver)
    shift
    exec /usr/bin/tini -s -- "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:?}" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=$SPARK_DRIVER_BIND_ADDRESS" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift
    exec /usr/bin/tini -s -- java "${java_opts[@]}" -Xms"${SPARK_EXECUTOR_MEMORY:?}" -Xmx"$SPARK_EXECUTOR_MEMORY" \
      -cp "$classpath${SPARK_DIST_CLASSPATH:+:$SPARK_DIST_CLASSPATH}" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "${SPARK_DRIVER_URL:?}" --executor-id "${SPARK_EXECUTOR_ID:?}" \
      --cores "${SPARK_EXECUTOR_CORES:?}" --app-id "${SPARK_APPLICATION_ID:?}" \
      --hostname "${SPARK_EXECUTOR_POD_IP:?}" --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
      --podName "${SPARK_EXECUTOR_POD_NAME:-}" "$@"
    ;;
  *)
    exec /usr/bin/tini -s -- "$@"
    ;;
esac
