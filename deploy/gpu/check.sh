#!/usr/bin/env bash
# The GPU check, run in the project root on the GPU machine (../shared/device/README.md describes it):
# builds ugs against that machine's CUDA LibTorch with UGS_WITH_CUDA=ON (and its g++ 13); checks the
# NCCL gang collective (one rank per GPU) and a small sweep trained on the GPU under mpirun (the
# coordinator and two one-GPU gangs); runs the whole test suite with the model tests on the GPU; and
# times a training step of ugsnet-v1 and ugsnet at batch 8 and 32 in fp32 and bf16, next to the
# published PyTorch code on the same GPU in the same run. A short table comes last.
#
#   deploy/gpu/check.sh [--no-bench]   needs .device-debs/ (../shared/device/fetch-debs.sh) and
#                                      .device-shared/ (a copy of ../shared's reference, golden, data)
# Logs and the table go to $OUT when set (the device tool), else to gpu-check/.
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=yes
[[ ${1:-} == --no-bench ]] && bench=no
out=${OUT:-gpu-check}
mkdir -p "$out"
exec > >(tee "$out/check.log") 2>&1

deps=/opt/ugsdeps
mkdir -p "$deps"
for f in .device-debs/*.deb; do dpkg -x "$f" "$deps"; done
# Debian's libpng-dev links to a runtime library the prefix lacks; use the machine's own.
png_link=$deps/usr/lib/x86_64-linux-gnu/libpng16.so
if [[ -L $png_link && ! -e $png_link ]]; then ln -sf /usr/lib/x86_64-linux-gnu/libpng16.so.16 "$png_link"; fi
export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'

time cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DUGS_WITH_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$deps/usr" -DUGS_SHARED_DIR="$PWD/.device-shared" >"$out/configure.log"
time cmake --build build-gpu --parallel "$(nproc)" >"$out/build.log" 2>&1 || { tail -n 60 "$out/build.log"; exit 1; }

echo "== NCCL: the gang collective, one rank per GPU"
ctest --test-dir build-gpu -R NcclOneRankPerGpu --output-on-failure

echo "== a sweep on the GPU under mpirun: the coordinator and two one-rank gangs, each job's NCCL set up"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
data=/tmp/ugs-synthetic
build-gpu/ugs synth --out "$data" --force >/dev/null
build-gpu/ugs split "$data" --out "$data/splits_final.json" --force >/dev/null
time mpirun -np 3 build-gpu/ugs run experiments/quickstart.toml --out /tmp/quickstart-cuda --status-every 5 \
  --set training.device=cuda --set data.store="$data" --set data.split="$data/splits_final.json" \
  >"$out/quickstart-cuda.log" 2>&1 || { tail -n 40 "$out/quickstart-cuda.log"; exit 1; }
grep -E "^(done|FAILED)|^status" "$out/quickstart-cuda.log" | tail -n 12

echo "== the test suite, model tests on CUDA"
UGS_TEST_DEVICE=cuda ctest --test-dir build-gpu --parallel 8 --output-on-failure >"$out/tests.log" 2>&1 \
  || { grep -E "Failed|Error" "$out/tests.log" | head -n 40; exit 1; }
tail -n 3 "$out/tests.log"
[[ $bench == yes ]] || exit 0

echo "== training step, C++ (ugs) and the published PyTorch code, same GPU"
table=$out/step-table.md
echo "| implementation | network | batch | dtype | step ms | samples/s | peak GB |" >"$table"
echo "|---|---|---|---|---|---|---|" >>"$table"
for batch in 8 32; do
  for dtype in fp32 bf16; do
    for network in ugsnet-v1 ugsnet; do
      build-gpu/bench/bench_model_step --device cuda --network "$network" --batch "$batch" \
        --dtype "$dtype" --iterations 30 --markdown-row >>"$table"
    done
    python3 bench/reference/ugsnet_v1_step.py --device cuda --batch "$batch" --dtype "$dtype" \
      --iterations 30 --markdown-row >>"$table"
  done
done
cat "$table"
