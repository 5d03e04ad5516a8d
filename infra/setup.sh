#!/usr/bin/env bash
# One-time, idempotent set-up of a fresh machine: a virtual environment with the locked Python
# packages, the project installed editable (the `hydrawatch` console script), and the Delta jars
# resolved with Maven from infra/pom.xml into .jars/ (git-ignored). Nothing downloads at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=${PYTHON:-python3}

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is not installed; $2" >&2; exit 1; }; }
need "$py" "install Python 3.11 or 3.12"
need java "install a Java 17 runtime (Spark 4 needs it)"
need javac "install a Java 17 JDK (it builds the project's S3 log store, infra/logstore/)"
need mvn "install Maven (it resolves the Delta jars from infra/pom.xml)"

stamp_py=.venv/.hydrawatch-installed
# "bytecode" in the stamp: a .venv installed before packages were compiled is redone.
want_py=$( (echo bytecode; cat pyproject.toml requirements.lock) | sha256sum | cut -c1-16)
if [ ! -f "$stamp_py" ] || [ "$(cat "$stamp_py")" != "$want_py" ]; then
  echo "setup: installing Python packages into .venv (about a minute on a fresh machine)"
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==0.13.8"
  # Compiled to bytecode at install (uv's default is not to): where PYTHONDONTWRITEBYTECODE is
  # set, as on the bench machine, Python never writes the .pyc files and every process compiled
  # every module it imported from source, each time: a Spark Python worker 1.4 s instead of
  # 0.4 s, `import prefect, mlflow` 5.1 s instead of 2.5 s (bench/README.md). About 15 s here.
  .venv/bin/uv pip install -q --python .venv/bin/python --compile-bytecode -r requirements.lock
  .venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
  echo "$want_py" > "$stamp_py"
fi

stamp_jars=.jars/.resolved
want_jars=$(sha256sum infra/pom.xml | cut -c1-16)
if [ ! -f "$stamp_jars" ] || [ "$(cat "$stamp_jars")" != "$want_jars" ]; then
  echo "setup: resolving the Delta jars with Maven into .jars/"
  rm -rf .jars
  # Only Delta's own jars: Spark, Hadoop, Jackson and Parquet come with pyspark and must not be
  # shadowed by older copies from Delta's transitive dependencies.
  mvn -q -B -f infra/pom.xml dependency:copy-dependencies \
      -DoutputDirectory="$root/.jars" -DincludeGroupIds=io.delta
  ls .jars/delta-spark_*.jar >/dev/null
  echo "$want_jars" > "$stamp_jars"
fi

# The S3 connector (hadoop-aws and the AWS SDK v2 modules it uses, 13 MB: infra/pom-s3a.xml) and
# the project's multi-driver S3 log store (infra/logstore/, built here with javac against Delta's
# and Hadoop's jars) into .jars/s3a/. Spark loads them only when a root is on S3
# (hydrawatch/objectstore.py), so local runs and the class archive are unchanged. Always resolved,
# not an optional step, so the multi-driver commit test runs on every fresh clone.
stamp_s3=.jars/s3a/.resolved
want_s3=$( (cat "$stamp_jars" infra/pom-s3a.xml; find infra/logstore -name '*.java' | sort | xargs cat) \
  | sha256sum | cut -c1-16)
if [ ! -f "$stamp_s3" ] || [ "$(cat "$stamp_s3")" != "$want_s3" ]; then
  echo "setup: resolving the S3 connector with Maven into .jars/s3a/ and building the S3 log store"
  rm -rf .jars/s3a
  # Not Netty, Apache HttpClient, commons-codec or SLF4J: the pyspark wheel ships newer ones.
  mvn -q -B -f infra/pom-s3a.xml dependency:copy-dependencies -DoutputDirectory="$root/.jars/s3a" \
      -DincludeGroupIds=org.apache.hadoop,software.amazon.awssdk,software.amazon.eventstream,software.amazon.s3.analyticsaccelerator,org.reactivestreams
  spark_jars=$(.venv/bin/python -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
  classes=$(mktemp -d)
  javac -nowarn --release 17 -d "$classes" -cp "$spark_jars/*:$root/.jars/*:$root/.jars/s3a/*" \
      $(find infra/logstore -name '*.java')
  jar cf .jars/s3a/hydrawatch-s3-logstore.jar -C "$classes" .
  rm -rf "$classes"
  echo "$want_s3" > "$stamp_s3"
fi

# The driver JVM's class-data archive (hydrawatch/spark.py): Spark's classes mapped in at start-up
# instead of loaded one by one, 4-8 s less per fresh process. Made by a warm-up run (about a
# minute); remade when Java, pyspark or the jars change. Optional: without it Spark starts as
# usual, and a failed attempt is stamped too, so it is not retried at every set-up.
stamp_cds=.jars/.class-archive
# hydrawatch/spark.py is in the stamp: the driver's class path is set there, and an archive made
# for another class path is ignored by the JVM.
want_cds=$( (java -version 2>&1; cat "$stamp_jars" "$stamp_py" hydrawatch/spark.py) | sha256sum | cut -c1-16)
if [ ! -f "$stamp_cds" ] || [ "$(cat "$stamp_cds")" != "$want_cds" ]; then
  echo "setup: archiving the Spark driver's classes (a one-minute warm-up run)"
  rm -f .jars/spark-classes.jsa
  if ! .venv/bin/python -m hydrawatch.spark >.jars/class-archive.log 2>&1; then
    echo "setup: warning: no class archive (Spark starts without it); see .jars/class-archive.log" >&2
  fi
  echo "$want_cds" > "$stamp_cds"
fi

# The project's own modules, for the same reason (the jobs' Spark workers import them). Cheap, and
# up-to-date files are skipped; an edited module's stale .pyc is ignored by Python.
.venv/bin/python -m compileall -q features flows hydrawatch jobs models >/dev/null
