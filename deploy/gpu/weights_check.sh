#!/usr/bin/env bash
# The LibTorch 2.x check of the weights code (model/src/weights.cpp, model/src/pickle.cpp), run in
# the project root on the GPU machine, whose PyTorch 2.x is both the Python and the C++ side:
#   1. builds tests/fixtures/weights_roundtrip.cpp with the two sources against that LibTorch;
#   2. makes the parity fixture with that PyTorch (state dict, {"state_dict": ...}, the published
#      trainer's checkpoint with a numpy scalar and Adam's state);
#   3. reads each with ugs's reader, writes it with ugs's writer, and has PyTorch load the result
#      with torch.load (weights_only=True, the default since 2.6) + load_state_dict(strict=True);
#   4. reads FILES written by LibTorch 1.13 here (ugs's writer) with that PyTorch, and leaves small
#      files saved by PyTorch 2.x in $OUT/from-2x for the 1.13 side to read.
#   deploy/gpu/weights_check.sh [FILES written by 1.13 ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-gpu-weights-check}
mkdir -p "$out/from-2x"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -c 'import torch; print("torch", torch.__version__)'
read -r includes libdir abi < <(python3 -c '
import os, torch
from torch.utils.cpp_extension import include_paths
print(",".join(include_paths()), os.path.join(os.path.dirname(torch.__file__), "lib"),
      int(torch._C._GLIBCXX_USE_CXX11_ABI))')
flags=(-std=c++17 -O1 -Wall -Wextra "-D_GLIBCXX_USE_CXX11_ABI=$abi" -Imodel/include -Imodel/src)
for dir in ${includes//,/ }; do flags+=(-isystem "$dir"); done
objects=()
for source in model/src/pickle.cpp model/src/weights.cpp tests/fixtures/weights_roundtrip.cpp; do
  object=$work/$(basename "$source" .cpp).o
  g++ "${flags[@]}" -c "$source" -o "$object" &
  objects+=("$object")
done
wait
g++ "${objects[@]}" -L"$libdir" -Wl,-rpath,"$libdir" -ltorch -ltorch_cpu -lc10 -o "$work/weights_roundtrip"
echo "built weights_roundtrip against $libdir"

python3 tests/fixtures/ugsnet_v1_reference.py fixture "$work/fixture"
for form in state_dict checkpoint published_checkpoint; do
  "$work/weights_roundtrip" "$work/fixture/$form.pt" "$work/$form.export.pt"
  python3 tests/fixtures/ugsnet_v1_reference.py check-export "$work/$form.export.pt" "$work/fixture"
done
python3 -c '
import sys, torch
state = torch.load(sys.argv[1])  # the default of torch.load, weights_only=True since 2.6
print(f"torch.load default: {type(state).__name__} of {len(state)} tensors")' "$work/state_dict.export.pt"

for file in "$@"; do
  python3 -c '
import sys, torch
state = torch.load(sys.argv[1], weights_only=True)
print(f"{sys.argv[1]}: PyTorch {torch.__version__} loads {len(state)} tensors:",
      {k: (tuple(v.shape), str(v.dtype)) for k, v in state.items()})' "$file"
done

python3 -c '
import os, sys, numpy, torch
sys.path.insert(0, "tests/fixtures")
from ugsnet_v1_reference import small_model, published_optimizer
out = sys.argv[1]
model = small_model()
torch.save(model.state_dict(), os.path.join(out, "small_state_dict.pt"))
torch.save({"state_dict": model.state_dict(), "epoch": 3}, os.path.join(out, "small_checkpoint.pt"))
optimizer = published_optimizer(model)
for p in model.parameters():
    p.grad = torch.ones_like(p)
optimizer.step()
torch.save({"model": model.state_dict(), "dice": numpy.float64(0.5), "epoch": 3,
            "optimizer": optimizer.state_dict()}, os.path.join(out, "small_published_checkpoint.pt"))
torch.save({k: v.clone() for k, v in model.state_dict().items()}, os.path.join(out, "small_values.pt"))
print("saved by", torch.__version__, sorted(os.listdir(out)))' "$out/from-2x"
