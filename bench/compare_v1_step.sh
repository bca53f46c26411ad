#!/usr/bin/env bash
# The training step of UGS-Net V1 side by side, in one run on one machine: ugs's C++ network
# (bench/bench_model_step) and the published PyTorch code (bench/reference/ugsnet_v1_step.py), with
# the same batch, input, loss, optimiser and thread count. Prints the machine, both tables, and
# the load average before and after (other work on the machine slows both).
#
#   bench/compare_v1_step.sh                      # batch 2, 2 threads, 2 warm-up + 5 timed steps
#   BUILD_DIR=build bench/compare_v1_step.sh --batch 4 --iterations 3
# Options are passed to both programs (--batch, --threads, --size, --warmup, --iterations, --device,
# --dtype). The Python side runs with $PYTHON if set, else the python3 CMake found able to import
# torch (UGS_TORCH_PYTHON in the build's CMakeCache.txt), else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}

python=${PYTHON:-$(sed -n 's/^UGS_TORCH_PYTHON:FILEPATH=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)}
python=${python:-python3}
cpp_bench=$build_dir/bench/bench_model_step

echo "== machine"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores, \
$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$python: torch $("$python" -c 'import torch; print(torch.__version__)')"
echo "arguments: ${*:-(defaults)}"

echo
echo "== C++ (ugs): $cpp_bench --network ugsnet-v1 $*"
if [[ -x $cpp_bench ]]; then
  "$cpp_bench" --network ugsnet-v1 "$@"
else
  echo "not built: cmake --build $build_dir --target bench_model_step"
fi

echo
echo "== PyTorch (published V1): $python bench/reference/ugsnet_v1_step.py $*"
"$python" bench/reference/ugsnet_v1_step.py "$@"

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
