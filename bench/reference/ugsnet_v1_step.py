#!/usr/bin/env python3
"""Training-step time and peak memory of the published UGS-Net V1 in PyTorch: the baseline that
bench_model_step (the C++ side) is compared with.

One step as the published trainer (trainner.py) does it: forward, the published loss
(BCEWithLogitsLoss on sigmoid outputs; L(X_S, S) + 0.5 (L(pred1, I) + L(pred2, U) + L(pred3, S))),
zero_grad, backward, Adam (betas 0.5, 0.999). The model is tests/fixtures/ugsnet_v1_reference.py:
the published network with its "Otsu" step vectorised on tensors (the published per-channel numpy
loop on the CPU gives the same values, slower). Inputs are random 64x64 images and masks.

  ugsnet_v1_step.py                                   # batch 2, 2 threads, CPU, fp32
  ugsnet_v1_step.py --device cuda --batch 32 --dtype bf16 --markdown-row

Figures as bench_model_step reports them. Step time: the median and the minimum over the timed
steps (the minimum is the least disturbed by other processes on a shared machine), and the process's
CPU time per step over all threads. Memory: on the CPU the peak resident set (VmHWM, reset just before
the first step) and that peak minus the resident set before the first step (the step's working set:
activations, gradients, Adam state, allocator slack); on CUDA the caching allocator's peak of
allocated bytes.
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "fixtures"))
from ugsnet_v1_reference import UGSNetV1, published_loss, published_optimizer  # noqa: E402

# Annotations per sample of the random targets (LIDC-IDRI has up to 4 readers).
ANNOTATORS = 4
# Fraction of foreground pixels in each random annotation.
FOREGROUND = 0.3


def proc_status_mib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def reset_peak_rss():
    """Writing 5 to clear_refs resets VmHWM to the current resident set (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=2, help="samples per step (default 2)")
    parser.add_argument("--threads", type=int, default=2,
                        help="intra-op CPU threads, torch.set_num_threads (default 2)")
    parser.add_argument("--size", type=int, default=64, help="input height and width (default 64)")
    parser.add_argument("--in-channels", type=int, default=3, help="input channels (default 3)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                        help="fp32, or bf16 (autocast of the forward and loss; default fp32)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--iterations", type=int, default=5,
                        help="timed steps; the median is reported (default 5)")
    parser.add_argument("--markdown-row", action="store_true",
                        help="print only '| implementation | network | batch | dtype | step ms | "
                             "samples/s | peak GB |' (deploy/gpu/check.sh)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = UGSNetV1(in_channels=args.in_channels).to(device).train()
    optimizer = published_optimizer(model)
    images = torch.randn(args.batch, args.in_channels, args.size, args.size, device=device)
    annotations = (torch.rand(args.batch, ANNOTATORS, args.size, args.size, device=device)
                   > 1 - FOREGROUND).float()
    intersection = annotations.amin(dim=1, keepdim=True)
    union = annotations.amax(dim=1, keepdim=True)
    annotation = annotations[:, :1]

    def step():
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            loss = published_loss(model(images), intersection, union, annotation)
        loss.backward()
        optimizer.step()

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device) / 2**20
    else:
        baseline = proc_status_mib("VmRSS")
        reset_peak_rss()
    for _ in range(args.warmup):
        step()
    synchronize()
    times = []
    cpu_start = time.process_time()
    for _ in range(args.iterations):
        start = time.perf_counter()
        step()
        synchronize()
        times.append((time.perf_counter() - start) * 1000)
    cpu_per_step = (time.process_time() - cpu_start) / args.iterations
    median_ms = statistics.median(times)
    peak = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
            else proc_status_mib("VmHWM"))
    samples_per_s = args.batch * 1000 / median_ms

    if args.markdown_row:
        print(f"| PyTorch (published V1) | ugsnet-v1 | {args.batch} | {args.dtype} | "
              f"{median_ms:.1f} | {samples_per_s:.1f} | {peak / 1024:.2f} |")
        return 0
    print(f"PyTorch {torch.__version__}, published UGS-Net V1 (vectorised Otsu), input "
          f"{args.in_channels}x{args.size}x{args.size}, median of {args.iterations} steps after "
          f"{args.warmup} warm-up")
    print("memory: " + ("peak bytes allocated by the CUDA caching allocator" if device.type == "cuda"
                        else "peak RSS, and peak RSS minus the RSS before the first step"))
    print("| network          | dev  | dtype | batch | threads | median ms |    min ms | CPU s/step | "
          "samples/s |" + ("     peak MiB | step MiB |" if device.type == "cuda"
                           else " peak RSS MiB | step MiB |"))
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {'ugsnet-v1':<16} | {args.device:<4} | {args.dtype:<5} | {args.batch:5d} | "
          f"{args.threads:7d} | {median_ms:9.1f} | {min(times):9.1f} | {cpu_per_step:10.2f} | "
          f"{samples_per_s:9.2f} | {peak:12.0f} | {peak - baseline:8.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
