# apache/kafka:$KAFKA_VERSION, in the official image's layout: Maven Central's jars under /opt/kafka/libs, launchers
# under /opt/kafka/bin, configs under /opt/kafka/config, data under /var/lib/kafka/data, user appuser (uid 1000),
# and /etc/kafka/docker/run as the default command (a single KRaft node on localhost). Java 17 is in the root.
kafka=$ROOT/opt/kafka
mkdir -p "$kafka/bin" "$kafka/config" "$kafka/libs" "$ROOT/etc/kafka/docker"

# Kafka 4.x logs through slf4j 1.7: log4j-slf4j-impl, not log4j-slf4j2-impl. kafka-tools brings the CLI tools;
# not Kafka Connect, which only its connect-plugin-path tool needs (and Maven Central lacks 4.0.1's connect-api).
cat > pom.xml <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.smack.images</groupId><artifactId>kafka-image</artifactId><version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$SCALA_VERSION</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-api</artifactId></exclusion>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-json</artifactId></exclusion>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-transforms</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-storage</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$M2_REPO" dependency:copy-dependencies -DincludeScope=runtime \
  -DoutputDirectory="$kafka/libs"
if ls "$kafka/libs" | grep -q '^slf4j-api-2\.'; then
  echo "kafka $KAFKA_VERSION uses slf4j 2: the binding must be log4j-slf4j2-impl" >&2; exit 1
fi

# One launcher per tool, each naming its main class; where Kafka moved a class between releases, the first
# one present in libs/ wins.
python3 - "$kafka/libs" > classes.txt <<'PY'
import sys, zipfile, pathlib
for jar in pathlib.Path(sys.argv[1]).glob("*.jar"):
    for n in zipfile.ZipFile(jar).namelist():
        if n.endswith(".class") and "$" not in n:
            print(n[:-6].replace("/", "."))
PY
while read -r script classes; do
  main=
  for c in ${classes//|/ }; do
    if grep -qx "$c" classes.txt; then main=$c; break; fi
  done
  if [ -z "$main" ]; then echo "kafka $KAFKA_VERSION: no main class for $script among $classes" >&2; exit 1; fi
  {
    echo '#!/usr/bin/env bash'
    echo "# $script: $main (Kafka $KAFKA_VERSION from Maven Central, through kafka-run-class.sh)."
    if [ "$script" = kafka-server-start.sh ]; then
      echo 'export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}'
      echo 'export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties}'
    fi
    echo "exec \"\$(dirname \"\$0\")/kafka-run-class.sh\" $main \"\$@\""
  } > "$kafka/bin/$script"
done <<'TOOLS'
kafka-server-start.sh kafka.Kafka
kafka-storage.sh kafka.tools.StorageTool
kafka-configs.sh kafka.admin.ConfigCommand|org.apache.kafka.tools.ConfigCommand
kafka-topics.sh org.apache.kafka.tools.TopicCommand|kafka.admin.TopicCommand
kafka-metadata-quorum.sh org.apache.kafka.tools.MetadataQuorumCommand
kafka-features.sh org.apache.kafka.tools.FeatureCommand
kafka-console-producer.sh org.apache.kafka.tools.ConsoleProducer|kafka.tools.ConsoleProducer
kafka-console-consumer.sh org.apache.kafka.tools.consumer.ConsoleConsumer|kafka.tools.ConsoleConsumer
kafka-consumer-groups.sh org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
kafka-reassign-partitions.sh org.apache.kafka.tools.reassign.ReassignPartitionsCommand
kafka-broker-api-versions.sh org.apache.kafka.tools.BrokerApiVersionsCommand|kafka.admin.BrokerApiVersionsCommand
kafka-leader-election.sh org.apache.kafka.tools.LeaderElectionCommand
kafka-get-offsets.sh org.apache.kafka.tools.GetOffsetShell
kafka-acls.sh org.apache.kafka.tools.AclCommand|kafka.admin.AclCommand
kafka-dump-log.sh org.apache.kafka.tools.DumpLogSegments|kafka.tools.DumpLogSegments
TOOLS
install -m 0755 "$RECIPES/kafka/kafka-run-class.sh" "$kafka/bin/kafka-run-class.sh"
chmod 0755 "$kafka"/bin/*.sh
install -m 0644 "$RECIPES/kafka/log4j2.properties" "$RECIPES/kafka/tools-log4j2.properties" \
  "$RECIPES/kafka/server.properties" "$kafka/config/"
install -m 0755 "$RECIPES/kafka/run" "$ROOT/etc/kafka/docker/run"
echo "$KAFKA_VERSION" > "$kafka/VERSION"

chroot "$ROOT" useradd --uid 1000 --user-group --create-home --home-dir /home/appuser --shell /bin/bash appuser
mkdir -p "$ROOT/var/lib/kafka/data" "$ROOT/opt/kafka/logs"
chown 1000:1000 "$ROOT/var/lib/kafka/data" "$ROOT/opt/kafka/logs" "$ROOT/opt/kafka/config" "$ROOT/etc/kafka/docker"
