"""The HTML report: escaping, sections present, and a real headless Chromium render."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from netrx.config import parse_config
from netrx.experiment import run
from netrx.experiment.rundir import write_run
from netrx.report import build_report

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = parse_config({"name": "rep", "out": str(out), "members": 3,
                        "data": {"dataset": "iris"}, "model": {"hidden": [8]},
                        "optimizer": {"lr": [0.003, 0.01, 0.03]},
                        "train": {"epochs": 8, "batch_size": 16}})
    result = run(cfg, progress=False)
    return result.run_dir


def test_report_has_sections_and_escapes_user_strings(run_dir, tmp_path):
    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    summary["dataset"] = "<script>alert('x')</script>"
    hostile = tmp_path / "hostile"
    shutil.copytree(run_dir, hostile)
    (hostile / "summary.json").write_text(json.dumps(summary))
    page = build_report(hostile).read_text()
    assert "<script>alert('x')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    for title in ("Data", "Final metrics", "Learning curves", "Learning rates",
                  "Confusion matrix"):
        assert title in page
    assert "<script src" not in page  # plotly.js is inline: the page works offline


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None,
                    reason="Debian chromium is not installed (make test installs it)")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    page = build_report(run_dir)
    flags = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=15000"]
    dom = subprocess.run([*flags, f"--user-data-dir={tmp_path / 'a'}", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120)
    consoles = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert consoles == [], consoles
    expected = re.search(r'data-expected="(\d+)"', dom.stdout)
    rendered = re.search(r'data-rendered="(\d+)"', dom.stdout)
    assert expected and rendered, dom.stdout[:500]
    assert int(expected.group(1)) >= 3
    assert rendered.group(1) == expected.group(1)
    assert dom.stdout.count('class="main-svg"') >= int(expected.group(1))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    subprocess.run([*flags, f"--user-data-dir={tmp_path / 'b'}", "--window-size=1280,2600",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120,
                   check=True)
    assert shot.stat().st_size > 10_000


def test_report_of_a_missing_run_is_a_netrx_error(tmp_path):
    from netrx.errors import RunDirError

    with pytest.raises(RunDirError):
        build_report(tmp_path)
    assert write_run  # the writer and the report read the same layout
