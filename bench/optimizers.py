"""Cost of one Adam update: netrx on a population against torch.optim.

netrx updates K members of the 40-100-100-10 MLP in the layout the training loop uses, one
{"flat": [K, P]} tensor (``optimizer.update`` + ``θ += u``). It is compared with

- ``torch.optim.Adam`` (foreach) stepping K separate models, one optimizer each,
- one ``torch.optim.Adam`` over all K models' parameters (foreach over 6K tensors),
- one ``torch.optim.Adam`` over a single tensor of the same K·P parameters (the floor:
  the same arithmetic with no per-member anything).

Target: netrx ≤ 1.2× the single big torch Adam, and faster than K separate ones.

    python bench/optimizers.py [--members 64] [--device cpu|cuda] [--threads N]
                               [--clock cpu|wall] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from netrx.optim import adam


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                         nn.Linear(100, 10))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_all(steps: dict, device: torch.device, n: dict, repeat: int,
              clock=time.perf_counter) -> tuple[dict, dict]:
    """Median seconds per call of each step. The variants are interleaved: each of the
    ``repeat`` rounds times ``n[name]`` calls of every variant in turn, so that a busy
    machine slows them alike."""
    for step in steps.values():
        for _ in range(3):
            step()
    _sync(device)
    runs: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            t0 = clock()
            for _ in range(n[name]):
                step()
            _sync(device)
            runs[name].append((clock() - t0) / n[name])
    return {name: statistics.median(r) for name, r in runs.items()}, runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=64)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=50, help="calls per timed run")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--clock", choices=("cpu", "wall"), default=None,
                    help="cpu: process CPU time, immune to other processes on a shared "
                         "machine (default on CPU); wall: elapsed time (default on CUDA)")
    args = ap.parse_args()
    device, K = torch.device(args.device), args.members
    if args.threads:
        torch.set_num_threads(args.threads)
    clock_name = args.clock or ("wall" if device.type == "cuda" else "cpu")
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    torch.manual_seed(0)

    models = [_mlp().to(device) for _ in range(K)]
    P = sum(p.numel() for p in models[0].parameters())
    for m in models:
        for p in m.parameters():
            p.grad = torch.randn_like(p) * 1e-2

    # netrx: one [K, P] tensor, the engine's layout
    flat = torch.randn(K, P, device=device) * 0.1
    grad = torch.randn(K, P, device=device) * 1e-2
    opt = adam(1e-3)
    state = opt.init({"flat": flat})
    box = {"state": state}

    def netrx_step():
        updates, box["state"] = opt.update({"flat": grad}, box["state"], {"flat": flat})
        flat.add_(updates["flat"])

    separate = [torch.optim.Adam(m.parameters(), lr=1e-3, foreach=True) for m in models]

    def separate_step():
        for o in separate:
            o.step()

    shared = torch.optim.Adam([p for m in models for p in m.parameters()], lr=1e-3,
                              foreach=True)
    big = nn.Parameter(torch.randn(K * P, device=device) * 0.1)
    big.grad = torch.randn_like(big) * 1e-2
    single = torch.optim.Adam([big], lr=1e-3, foreach=True)

    steps = {
        "netrx adam, {flat: [K, P]}": netrx_step,
        "torch Adam x K separate models": separate_step,
        "torch Adam, one optimizer over K models": shared.step,
        "torch Adam, one tensor of K*P": single.step,
    }
    n = {name: args.steps for name in steps}
    n["torch Adam x K separate models"] = max(5, args.steps // 5)
    t, runs = _time_all(steps, device, n, args.repeat, clock)
    threads = torch.get_num_threads()
    print(f"one Adam update, K={K} members x P={P} parameters (40-100-100-10 MLP), "
          f"{K * P:,} in all; device {device}, {threads} CPU threads, {clock_name} clock, "
          f"torch {torch.__version__}")
    base = t["torch Adam, one tensor of K*P"]
    for name, sec in t.items():
        print(f"  {name:<42} {sec * 1e3:9.3f} ms   {sec / base:5.2f}x the single big Adam")
    ours = t["netrx adam, {flat: [K, P]}"]
    paired = statistics.median(a / b for a, b in zip(runs["netrx adam, {flat: [K, P]}"],
                                                     runs["torch Adam, one tensor of K*P"]))
    print(f"netrx / single big torch Adam   = {ours / base:.2f}  (median of per-round ratios "
          f"{paired:.2f}; target <= 1.2)")
    print(f"netrx / K separate torch Adams  = {ours / t['torch Adam x K separate models']:.3f}"
          "  (target < 1)")


if __name__ == "__main__":
    main()
