#!/usr/bin/env bash
# The cost of monitoring: one small sweep's wall time with the exporter off (--no-metrics), on with
# nobody scraping, and on with a real Prometheus scraping /metrics every second (a static target on a
# port chosen here, so that scraping starts at once; --metrics-linger 0, so that the time is the
# sweep's own). Alone and under `mpirun -np 3` (two gangs of one rank: the gangs' reports cross
# MPI). Runs alternate between the three settings, REPS times each; the median and every run print.
#   bench/monitoring_cost.sh [build/ugs] [REPS]
# The sweep: U-Net and UGS-Net x 2 folds, 240 synthetic nodules at 32x32, base width 8, batch 8,
# 4 epochs: many short steps (tens of ms), so that per-step costs show.
set -euo pipefail
ugs=$(realpath "${1:-build/ugs}")
reps=${2:-3}
work=$(mktemp -d)
prometheus_pid=
cleanup() {
  [[ -n $prometheus_pid ]] && kill "$prometheus_pid" 2>/dev/null && wait "$prometheus_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
command -v prometheus >/dev/null || { echo "monitoring_cost: prometheus is not installed (deploy/setup.sh)" >&2; exit 1; }

"$ugs" synth --out "$work/store" --nodules 240 > /dev/null
"$ugs" split "$work/store" --folds 2 --out "$work/store/splits.json" > /dev/null
cat > "$work/sweep.toml" <<TOML
[sweep]
name = "monitoring-cost"
folds = [0, 1]
[defaults.data]
store = "$work/store"
split = "$work/store/splits.json"
[defaults.model]
base_width = 8
[defaults.preprocess]
size = 32
[defaults.training]
epochs = 4
batch_size = 8
[experiments.table1]
networks = ["unet", "ugsnet"]
TOML

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
scraped_port=$(free_port)
prometheus_port=$(free_port)
cat > "$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ugs
    static_configs:
      - targets: ["127.0.0.1:$scraped_port"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prometheus_port" > "$work/prometheus.log" 2>&1 &
prometheus_pid=$!

# Seconds of one sweep; $1 = launcher ("" or mpirun ...), then the metrics options.
run_once() {
  local launcher=$1
  shift
  rm -rf "$work/run"
  local start end
  start=$(date +%s.%N)
  $launcher "$ugs" run "$work/sweep.toml" --out "$work/run" "$@" > "$work/run.log" 2>&1 ||
    { cat "$work/run.log" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sweep: 4 training jobs (unet, ugsnet x 2 folds), 4 epochs of 96-120 nodules at batch 8; $reps runs per setting"
for launcher in "" "mpirun -np 3 --oversubscribe"; do
  off=() on=() scraped=()
  for ((i = 0; i < reps; i++)); do
    off+=("$(run_once "$launcher" --no-metrics)")
    on+=("$(run_once "$launcher")")
    scraped+=("$(run_once "$launcher" --metrics-address "127.0.0.1:$scraped_port" --metrics-linger 0)")
  done
  scrapes=$(curl -s --data-urlencode "query=sum_over_time(up{job=\"ugs\"}[1h])" \
    "http://127.0.0.1:$prometheus_port/api/v1/query" | python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
  echo "${launcher:-alone}:"
  echo "  exporter off (--no-metrics)       median $(median "${off[@]}") s   runs ${off[*]}"
  echo "  exporter on, not scraped          median $(median "${on[@]}") s   runs ${on[*]}"
  echo "  exporter on, scraped every 1 s    median $(median "${scraped[@]}") s   runs ${scraped[*]}   (successful scrapes so far: $scrapes)"
done
