#!/usr/bin/env bash
# Data-parallel efficiency on this machine: one job trained by 1 rank and by 2 ranks (mpirun) with
# the same global batch, samples/s of the last of 3 epochs from the job's training_log.jsonl. Each
# configuration uses every core: 1 rank x N threads, 2 ranks x N/2 threads.
#   bench/data_parallel.sh [build/ugs]
set -euo pipefail
ugs=$(realpath "${1:-build/ugs}")
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$ugs" synth --out "$work/store" --nodules 600 > /dev/null
"$ugs" split "$work/store" --out "$work/store/splits.json" > /dev/null
cat > "$work/job.toml" <<TOML
[data]
store = "$work/store"
split = "$work/store/splits.json"
[model]
name = "${NETWORK:-unet}"
base_width = 16
[optimizer]
kind = "adam"
lr = 1e-3
[training]
epochs = 3
batch_size = 32
checkpoint_every = 100
[preprocess]
size = 64
TOML

last_epoch() {
  tail -1 "$1/training_log.jsonl" | python3 -c 'import json, sys
e = json.load(sys.stdin)
print("%.1f samples/s, loader wait %.2f%% of the epoch" % (e["samples_per_second"], 100 * e["loader_wait_seconds"] / e["seconds"]))'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); network ${NETWORK:-unet}, base width 16, 64x64, global batch 32, 480 training nodules"
OMP_NUM_THREADS=$cores "$ugs" train "$work/job.toml" --out "$work/one" > /dev/null
echo "1 rank  x $cores threads: $(last_epoch "$work/one")"
OMP_NUM_THREADS=$((cores / 2)) mpirun -np 2 --oversubscribe "$ugs" train "$work/job.toml" --out "$work/two" > /dev/null
echo "2 ranks x $((cores / 2)) threads: $(last_epoch "$work/two")"
