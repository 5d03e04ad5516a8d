#!/usr/bin/env bash
# Start or stop a Spark standalone cluster on this machine from the installed pyspark
# (its spark-class launcher): one master and N workers, all on 127.0.0.1 only.
#   infra/spark-standalone.sh start [workers=2] [cores-per-worker=1] [memory-per-worker=2g]
#   infra/spark-standalone.sh stop
# Then: HYDRAWATCH_SPARK_MASTER=spark://127.0.0.1:7077 hydrawatch daily --date D
set -euo pipefail
cd "$(dirname "$0")/.."
run_dir=${SPARK_STANDALONE_DIR:-$PWD/data/spark-standalone}
spark_home=$(.venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
port=${SPARK_MASTER_PORT:-7077}
ui_port=${SPARK_MASTER_WEBUI_PORT:-8080}

case "${1:-}" in
  start)
    workers=${2:-2}; cores=${3:-1}; mem=${4:-2g}
    mkdir -p "$run_dir"
    export SPARK_HOME=$spark_home SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON=$PWD/.venv/bin/python
    nohup "$spark_home/bin/spark-class" org.apache.spark.deploy.master.Master \
      --host 127.0.0.1 --port "$port" --webui-port "$ui_port" >"$run_dir/master.log" 2>&1 &
    echo $! >"$run_dir/master.pid"
    for i in $(seq 1 "$workers"); do
      nohup "$spark_home/bin/spark-class" org.apache.spark.deploy.worker.Worker \
        --host 127.0.0.1 --cores "$cores" --memory "$mem" --webui-port $((ui_port + i)) \
        --work-dir "$run_dir/work-$i" "spark://127.0.0.1:$port" >"$run_dir/worker-$i.log" 2>&1 &
      echo $! >"$run_dir/worker-$i.pid"
    done
    echo "master spark://127.0.0.1:$port (UI http://127.0.0.1:$ui_port), $workers workers; logs in $run_dir"
    ;;
  stop)
    for f in "$run_dir"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; done
    echo "stopped"
    ;;
  *) echo "usage: $0 start [workers] [cores] [memory] | stop" >&2; exit 2 ;;
esac
