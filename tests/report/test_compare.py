"""``netrx compare RUN RUN …``: the table (metrics, cost, the hyperparameters that differ),
the overlaid learning curves, escaping, errors, and a headless Chromium render."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import typer
from typer.testing import CliRunner

from netrx.config import parse_config
from netrx.errors import ConfigError, RunDirError
from netrx.experiment import run
from netrx.report.compare import build_compare, load_runs, table_rows


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    dirs = []
    for name, lr in (("slow-lr", 0.003), ("fast-lr", 0.05)):
        cfg = parse_config({"name": name, "out": str(out), "members": 2,
                            "data": {"dataset": "iris"}, "model": {"hidden": [8]},
                            "optimizer": {"lr": lr}, "train": {"epochs": 4, "batch_size": 16}})
        dirs.append(run(cfg, progress=False).run_dir)
    return dirs


def _app() -> typer.Typer:
    from netrx.cli.app import app

    return app


def test_table_has_metrics_cost_and_only_the_hyperparameters_that_differ(two_runs):
    rows, columns = table_rows(load_runs(two_runs))
    assert [r["run"] for r in rows] == ["slow-lr", "fast-lr"]
    assert columns[:3] == ["run", "dataset", "task"]
    for c in ("test error", "test accuracy", "dev error", "train error", "chosen", "members",
              "epochs", "seconds"):
        assert c in columns
    assert "test RMSE" not in columns  # no regression run here
    assert columns[-1:] == ["optimizer.lr"]  # the one hyperparameter that differs
    assert [r["optimizer.lr"] for r in rows] == [0.003, 0.05]
    for r, d in zip(rows, two_runs):
        summary = json.loads((d / "summary.json").read_text())
        assert r["test error"] == summary["best"]["test_error"]
        assert r["dev error"] == summary["best"]["dev_error"]
        assert r["test accuracy"] == pytest.approx(1 - summary["best"]["test_error"])
        assert r["members"] == 2 and r["epochs"] == 4
        assert r["chosen"] == f"member {summary['best_member']}"


def test_page_has_table_and_one_curve_per_run(two_runs, tmp_path):
    page = build_compare(two_runs, tmp_path / "compare.html").read_text()
    assert "<h2>Runs</h2>" in page and "<h2>Learning curves</h2>" in page
    assert "<td>slow-lr</td>" in page and "<h2>Hyperparameters that differ</h2>" in page
    assert "<th>slow-lr</th><th>fast-lr</th>" in page  # a column per run, a row per key
    assert "<tr><td>optimizer.lr</td><td>0.003</td><td>0.05</td></tr>" in page
    assert "<script src" not in page
    spec = re.search(r"id='fig0-data'>(.*?)</script>", page, flags=re.S).group(1)
    fig = json.loads(spec.replace("<\\/", "</"))
    dev = [t for t in fig["data"] if t.get("xaxis", "x") == "x"]
    assert [t["name"] for t in dev] == ["slow-lr", "fast-lr"]
    assert all(len(t["y"]) == 4 for t in dev)  # one dev error per epoch


def test_user_strings_are_escaped(two_runs, tmp_path):
    hostile = tmp_path / "hostile"
    shutil.copytree(two_runs[0], hostile)
    summary = json.loads((hostile / "summary.json").read_text())
    summary["name"] = summary["dataset"] = "<script>alert('x')</script>"
    (hostile / "summary.json").write_text(json.dumps(summary))
    page = build_compare([hostile, two_runs[1]], tmp_path / "c.html").read_text()
    assert "<script>alert('x')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_a_path_that_is_not_a_run_is_a_one_line_error(two_runs, tmp_path):
    (tmp_path / "tune").mkdir()
    (tmp_path / "tune" / "tune.json").write_text("{}")
    with pytest.raises(RunDirError, match="no such run directory"):
        load_runs([two_runs[0], tmp_path / "missing"])
    with pytest.raises(RunDirError, match="has no summary.json"):
        load_runs([two_runs[0], tmp_path])
    with pytest.raises(RunDirError, match="is a tune run directory"):
        load_runs([two_runs[0], tmp_path / "tune"])
    with pytest.raises(ConfigError, match="two run directories or more"):
        load_runs([two_runs[0]])
    result = CliRunner().invoke(_app(), ["compare", str(two_runs[0]), str(tmp_path / "missing"),
                                         "--out", str(tmp_path / "c")])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: ") and "no such run directory" in result.output
    assert not (tmp_path / "c" / "compare.html").exists()


def test_cli_prints_the_table_and_writes_the_page(two_runs, tmp_path):
    out = tmp_path / "pages" / "compare.html"
    result = CliRunner().invoke(_app(), ["compare", *map(str, two_runs), "--out",
                                         str(out.parent)],
                                env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "optimizer.lr" in result.output and "fast-lr" in result.output
    assert f"comparison written to {out}" in " ".join(result.output.split())
    assert out.is_file()


def test_compare_page_renders_in_headless_chromium(two_runs, browser, blank, save_screenshot,
                                                   tmp_path):
    page = build_compare(two_runs, tmp_path / "compare.html")
    dom = browser.dom(page.as_uri())
    consoles = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert consoles == [], consoles
    assert re.search(r'data-rendered="1"', dom.stdout), dom.stdout[:500]
    assert dom.stdout.count('class="main-svg"') >= 1
    shot = browser.shot(page.as_uri(), tmp_path / "compare.png", size="1280,900")
    assert shot.stat().st_size > 10_000
    assert not blank(shot)
    save_screenshot(shot, "compare.png")
