#!/usr/bin/env bash
# Sets up ugs on Debian 12: installs the packages it needs (as root, only those missing) and builds it
# in Release into build/. Safe to rerun; when nothing changed it returns in seconds.
#   deploy/setup.sh            install + build
#   BUILD_DIR=x deploy/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev                      # LibTorch 1.13, CPU
  libopenmpi-dev openmpi-bin        # MPI between ranks on CPU builds, and the launcher
  libhdf5-dev                       # the nodule store (C++ API)
  prometheus-cpp-dev                # live metrics
  prometheus curl                   # tests: a real Prometheus scrapes `ugs run` and is queried over HTTP
  libtomlplusplus-dev               # sweep and training configuration
  libcli11-dev                      # the command line
  libgtest-dev                      # tests
  nlohmann-json3-dev                # index, splits, summaries
  libpng-dev                        # PNG import and figures
  gnuplot-nox                       # training curves and HU densities (PNG)
  python3-torch                     # tests: PyTorch parity of the weights import/export
  slurmctld slurmd slurm-client     # tests: deploy/slurm/ on a single-node Slurm (tests/slurm/),
  munge                             #   which authenticates with munge
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}; run this script as root (or apt-get install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # munge, prometheus and slurm come as services; the tests start their own daemons with their own
  # configuration and ports, so apt is asked not to start them (policy-rc.d, as in containers).
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build_dir=${BUILD_DIR:-build}
if [[ ! -f $build_dir/build.ninja ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build "$build_dir" --parallel "$(nproc)"
