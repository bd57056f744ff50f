# apache/spark:$SPARK_VERSION, in the official image's layout: the Spark distribution that PyPI's pyspark sdist
# carries (bin, sbin, jars with spark-kubernetes, data) at /opt/spark, PySpark at /opt/spark/python, the
# /opt/entrypoint.sh with driver and executor branches under tini, user spark (uid 185), work dir
# /opt/spark/work-dir. The examples jar is not published; SparkPi is built here from images/spark/SparkPi.java
# at the path the official image has it. Java 17, python3 and tini are in the root.
spark=$ROOT/opt/spark
mkdir -p "$DOWNLOADS" "$spark/python/lib" "$spark/examples/jars" "$spark/work-dir" "$spark/conf"
sdist=$DOWNLOADS/pyspark-$SPARK_VERSION.tar.gz
if [ ! -f "$sdist" ]; then
  python3 -m pip download -q --no-deps --no-binary :all: "pyspark==$SPARK_VERSION" -d "$DOWNLOADS"
fi
tar -xzf "$sdist"
src=pyspark-$SPARK_VERSION
cp -a "$src/deps/bin" "$src/deps/sbin" "$src/deps/jars" "$src/deps/data" "$spark/"
rm -f "$spark"/bin/*.cmd "$spark"/sbin/*.cmd
cp -a "$src/deps/examples" "$spark/examples/src"
cp -a "$src/pyspark" "$spark/python/pyspark"
# PySpark's launchers look for python/lib/{pyspark.zip,py4j-*-src.zip}; py4j comes from PyPI at the version
# the sdist names (its wheel is a zip of the package, as the -src.zip is).
py4j=$(sed -n "s/.*py4j==\([0-9.]*\).*/\1/p" "$src/setup.py" | head -1)
python3 -m pip download -q --no-deps --only-binary :all: "py4j==$py4j" -d "$DOWNLOADS"
cp "$DOWNLOADS/py4j-$py4j-py2.py3-none-any.whl" "$spark/python/lib/py4j-$py4j-src.zip"
(cd "$spark/python" && python3 -m zipfile -c lib/pyspark.zip pyspark)
echo "Spark $SPARK_VERSION (Scala $SPARK_SCALA_VERSION), from PyPI pyspark $SPARK_VERSION" > "$spark/RELEASE"

javac -nowarn --release 17 -d classes -cp "$spark/jars/*" "$RECIPES/spark/SparkPi.java"
jar cf "$spark/examples/jars/spark-examples_$SPARK_SCALA_VERSION-$SPARK_VERSION.jar" -C classes .

install -m 0755 "$RECIPES/spark/entrypoint.sh" "$ROOT/opt/entrypoint.sh"
chroot "$ROOT" useradd --system --uid 185 --user-group --home-dir /opt/spark --no-create-home --shell /bin/bash spark
chown 185:185 "$spark/work-dir"
chmod g+w "$spark/work-dir"
