# cassandra:$CASSANDRA_VERSION, in the official image's layout: /opt/cassandra/{bin,conf,lib}, CASSANDRA_CONF
# /etc/cassandra (writable, the operator renders into it), data /var/lib/cassandra, logs /var/log/cassandra,
# user cassandra (uid 999). The jars are cassandra-all and its runtime dependencies from Maven Central; Java
# ($JAVA_MAJOR) is in the root. The launchers (bin/cassandra, bin/nodetool) carry the JVM options Cassandra needs.
home=$ROOT/opt/cassandra
mkdir -p "$home/bin" "$home/conf" "$home/lib" "$ROOT/etc/cassandra" "$ROOT/var/lib/cassandra" "$ROOT/var/log/cassandra"
cat > pom.xml <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.smack.images</groupId><artifactId>cassandra-image</artifactId><version>$CASSANDRA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>$CASSANDRA_VERSION</version></dependency>
  </dependencies>
</project>
POM
mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$M2_REPO" dependency:copy-dependencies -DincludeScope=runtime \
  -DoutputDirectory="$home/lib"
# Native libraries for other systems and CPUs (netty's osx/windows/aarch64/riscv builds) are dead weight here.
find "$home/lib" -name '*.jar' \( -name '*osx*' -o -name '*windows*' -o -name '*aarch_64*' -o -name '*riscv*' \) -delete

install -m 0755 "$RECIPES/cassandra/cassandra" "$RECIPES/cassandra/nodetool" "$home/bin/"
install -m 0644 "$RECIPES/cassandra/jvm-server.options" "$RECIPES/cassandra/logback-tools.xml" "$home/conf/"
install -m 0644 "$RECIPES/cassandra/logback.xml" "$RECIPES/cassandra/cassandra-rackdc.properties" "$ROOT/etc/cassandra/"
echo "$CASSANDRA_VERSION" > "$home/VERSION"

# cassandra.yaml: the stock file's required directives, then the release's own Config defaults, read by a small
# program run on the image's Java against the image's jars.
javac -nowarn --release 11 -d "$ROOT/tmp/defaults" -cp "$home/lib/*" "$RECIPES/cassandra/DefaultYaml.java"
sed "s/@VERSION@/$CASSANDRA_VERSION/g" "$RECIPES/cassandra/cassandra.yaml.head" > "$ROOT/etc/cassandra/cassandra.yaml"
set -- $(sed -n 's/^\([a-z_]*\):.*/\1/p' "$RECIPES/cassandra/cassandra.yaml.head")
opts=$(grep -v '^#' "$home/conf/jvm-server.options" | tr '\n' ' ')
# shellcheck disable=SC2086
chroot "$ROOT" java -XX:-UsePerfData $opts -Dlogback.configurationFile=/opt/cassandra/conf/logback-tools.xml \
  -cp "/tmp/defaults:/opt/cassandra/lib/*" DefaultYaml /tmp/defaults/config.yaml "$@"
cat "$ROOT/tmp/defaults/config.yaml" >> "$ROOT/etc/cassandra/cassandra.yaml"
rm -rf "$ROOT/tmp/defaults"

chroot "$ROOT" groupadd --system --gid 999 cassandra
chroot "$ROOT" useradd --system --uid 999 --gid 999 --home-dir /var/lib/cassandra --shell /bin/bash cassandra
ln -s /etc/cassandra/cassandra.yaml "$home/conf/cassandra.yaml"
chown -R 999:999 "$ROOT/etc/cassandra" "$ROOT/var/lib/cassandra" "$ROOT/var/log/cassandra"
chmod 1777 "$ROOT/etc/cassandra" "$ROOT/var/lib/cassandra" "$ROOT/var/log/cassandra"
