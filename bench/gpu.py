"""Seconds per trained model on one device: a netrx population of K against K models trained
one after the other, for K = 1 … 256, and whether a training step synchronises with the host.

The model and data are ``bench/population.py``'s: the MNIST-1D paper's MLP (40-100-100-10,
ReLU, batch 128, Adam 1e-3) on the 4000 standardised training examples. ``netrx`` is one
``netrx.fit(..., members=K)`` (fused: one population); ``sequential`` is the plain PyTorch
loop, one model after the other, timed on min(K, --sequential-cap) models. The host-sync
check watches one whole training step of a population (``netrx.train.host_sync``: CUDA's
sync debug mode on a GPU, trapped host reads and scalar uploads on the CPU).

    python bench/gpu.py                          # --device auto: CUDA when there is one
    python bench/gpu.py --device cpu --quick     # a smoke run of a few seconds
    python bench/gpu.py --compile                # and the compiled step (CUDA graphs)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from population import load_data, train_netrx, train_plain  # noqa: E402  (bench/population.py)


def _timed(fn: Callable[[], None], device: torch.device, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--ks", default="1,4,16,64,256")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--sequential-cap", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="K 1,4,16; 1 epoch on 1000 examples")
    p.add_argument("--compile", action="store_true",
                   help="also the compiled step (fit(compile=True); CUDA graphs on CUDA) "
                        "against the eager one, steady-state epoch seconds")
    a = p.parse_args(argv)
    from netrx.population import resolve_device
    from netrx.train.host_sync import check_step

    device = resolve_device(a.device)
    ks = (1, 4, 16) if a.quick else tuple(int(k) for k in a.ks.split(","))
    epochs, n_train, repeats = (1, 1000, 1) if a.quick else (a.epochs, None, a.repeats)
    X, y = load_data(n_train)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device {device} ({name}); torch {torch.__version__}; {X.shape[0]} examples, "
          f"batch {a.batch_size}, {epochs} epoch(s), median of {repeats}; load {load:.2f}")
    dev = str(device)
    train_netrx(X, y, 2, 1, a.batch_size, device=dev)  # warm-up: kernels, allocator
    train_plain(X, y, 1, 1, a.batch_size, device=dev)
    rows, cache = [], {}
    for k in ks:
        fused = _timed(lambda k=k: train_netrx(X, y, k, epochs, a.batch_size, device=dev),
                       device, repeats) / k
        n = min(k, a.sequential_cap)
        if n not in cache:
            cache[n] = _timed(lambda n=n: train_plain(X, y, n, epochs, a.batch_size,
                                                      device=dev), device, repeats) / n
        rows.append((k, fused, cache[n], n))
    print(f"{'K':>5} {'netrx s/model':>14} {'sequential s/model':>19} {'speed-up':>9}")
    for k, fused, seq, n in rows:
        print(f"{k:>5} {fused:>14.4f} {seq:>19.4f} {seq / fused:>8.2f}x"
              + (f"   (sequential timed on {n} models)" if n < k else ""))
    found = check_step(lambda check: train_netrx(X, y, 4, 1, a.batch_size, device=dev,
                                                 callbacks=[check]))
    print("host sync in a training step: " + ("none" if found is None else found))
    if a.compile:
        from population import Settings, compiled_vs_eager

        s = Settings(ks=ks, epochs=max(epochs, 3), batch_size=a.batch_size, n_train=n_train,
                     sequential_cap=a.sequential_cap, repeats=repeats, matmul_n=0,
                     threads=None, ways=("netrx",))
        compiled_vs_eager(X, y, s, "mlp", device=dev)
    return 0 if found is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
