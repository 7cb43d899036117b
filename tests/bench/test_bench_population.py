"""bench/population.py: a smoke run of the script and the arithmetic behind its verdicts.

No wall-clock bounds: the timings themselves are only printed."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "population.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_population", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_quick_run_prints_the_table_and_every_target(bench, capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "GFLOP/s" in out and "float32 matmul" in out
    header = next(line for line in out.splitlines() if line.startswith("way "))
    assert header.split()[:4] == ["way", "K", "timed", "s/model"]
    rows = [f for f in (line.split() for line in out.splitlines())
            if len(f) == 8 and f[0] in ("netrx", "plain", "sklearn") and f[1].isdigit()]
    assert {(r[0], int(r[1])) for r in rows} == {(w, k) for w in ("netrx", "plain", "sklearn")
                                                 for k in (1, 2)}
    assert all(float(r[3]) > 0 for r in rows)  # the s/model column is filled
    netrx_k2 = next(r for r in rows if r[0] == "netrx" and r[1] == "2")
    assert netrx_k2[4].endswith("x") and netrx_k2[5].endswith("x")  # speed-ups printed
    targets = [line for line in out.splitlines() if line.startswith("target:")]
    assert len(targets) == 4
    # --quick has no K=64: those targets are not judged, K=1 against the plain loop is
    assert sum("NOT MEASURED" in t for t in targets) == 3
    assert targets[3].endswith("x)") and (": MET" in targets[3] or ": NOT MET" in targets[3])


def test_useful_flops_are_six_multiply_adds_per_weight_and_example(bench):
    W = 40 * 100 + 100 * 100 + 100 * 10
    assert bench.n_weights(40) == W
    assert bench.useful_flops_per_model(4000, 20, 40) == 6 * W * 4000 * 20


def test_verdicts_follow_the_issue_thresholds(bench):
    flops = 10**9  # 1 GFLOP per model
    rows = [bench.Row("netrx", 64, 64, 64 * 1.0, flops),   # 1 s per model, 1 GFLOP/s
            bench.Row("plain", 64, 4, 4 * 6.5, flops),      # 6.5x slower: met
            bench.Row("sklearn", 64, 4, 4 * 4.0, flops),    # 4x slower: not met
            bench.Row("netrx", 1, 1, 1.2, flops),
            bench.Row("plain", 1, 1, 1.0, flops)]           # netrx 1.2x the plain loop
    assert bench.speedups(rows, 64) == pytest.approx({"plain": 6.5, "sklearn": 4.0})
    lines = bench.targets(rows, rate=1.9)  # netrx at 1 GFLOP/s is 52.6% of 1.9
    assert [line.rsplit(": ", 1)[1].split(" (")[0] for line in lines] == \
        ["MET", "NOT MET", "MET", "NOT MET"]
    table = bench.table(rows, rate=1.9)
    assert "6.50x" in table[1] and "4.00x" in table[1] and "52.6%" in table[1]
