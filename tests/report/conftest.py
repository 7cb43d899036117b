"""Fixtures of the report tests that need a study, a browser or a database server.

- ``tiny_study``: a real ``netrx tune`` run directory (iris, 10 tiny trials: enough for
  fANOVA), made once per session.
- ``browser``: headless Chromium (Debian's ``chromium``; the test skips without it) with
  ``shot(url, path)`` (a PNG screenshot) and ``dom(url)`` (the rendered DOM).
- ``blank``: whether a PNG is (nearly) one colour; ``save_screenshot(shot, name)``.

``NETRX_SCREENSHOTS=docs`` also copies the screenshots the tests take into ``docs/`` (the
images of docs/reports.md and docs/tuning.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def save_screenshot():
    """``save_screenshot(shot, name)``: copy ``shot`` to ``$NETRX_SCREENSHOTS/name``
    (relative to the repository) when that variable is set."""
    def save(shot: Path, name: str) -> None:
        where = os.environ.get("NETRX_SCREENSHOTS")
        if where:
            target = ROOT / where / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, target)
    return save


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    from netrx.tune import tune

    out = tmp_path_factory.mktemp("studies")
    cfg = {"data": {"dataset": "iris"}, "model": {"hidden": [8]},
           "train": {"epochs": 3, "batch_size": 32},
           "search": {"space": {"optimizer.lr": "log_uniform(1e-3, 1e-1)",
                                "optimizer.b1": "one_minus_log(0.8, 0.99)",
                                "model.dropout": "uniform(0, 0.3)"},
                      "strategy": "random", "trials": 10, "slots": 5, "pruner": "none"}}
    return tune(cfg, name="tiny", out=str(out)).run_dir


class Browser:
    """Headless Chromium, one profile directory per call."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars")

    def __init__(self, exe: str, tmp: Path) -> None:
        self.exe, self.tmp, self.calls = exe, tmp, 0

    def _run(self, *args: str, budget: int = 10_000) -> subprocess.CompletedProcess:
        self.calls += 1
        profile = self.tmp / str(self.calls)
        return subprocess.run([self.exe, *self.FLAGS, f"--user-data-dir={profile}",
                               f"--virtual-time-budget={budget}", *args],
                              capture_output=True, text=True, timeout=180)

    def shot(self, url: str, path: Path, size: str = "1280,800") -> Path:
        done = self._run(f"--window-size={size}", f"--screenshot={path}", url)
        assert path.is_file(), done.stderr[-2000:]
        return path

    def dom(self, url: str) -> subprocess.CompletedProcess:
        return self._run("--enable-logging=stderr", "--v=0", "--dump-dom", url, budget=15_000)


@pytest.fixture
def browser(tmp_path) -> Browser:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("Debian chromium is not installed (make test installs it)")
    return Browser(exe, tmp_path / "chromium")


@pytest.fixture
def blank():
    def is_blank(png: Path) -> bool:
        from PIL import Image

        with Image.open(png) as img:
            colors = img.convert("RGB").getcolors(maxcolors=1 << 20) or []
        return len(colors) < 20
    return is_blank


