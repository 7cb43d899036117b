"""bench/gpu.py runs on the CPU too (--device cpu --quick): the table and the host-sync
verdict are printed. No wall-clock bound: timings are only printed."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"


def test_quick_cpu_run_prints_the_table_and_the_host_sync_verdict():
    out = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    rows = [line.split() for line in lines if line.split() and line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows] == [1, 4, 16]
    assert all(float(r[1]) > 0 and float(r[2]) > 0 and r[3].endswith("x") for r in rows)
    assert "host sync in a training step: none" in lines
