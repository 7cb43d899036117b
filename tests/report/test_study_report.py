"""``netrx report TUNE_DIR``: the study's page (history, parallel coordinates, importance,
slices on log axes, trial curves), escaped, and rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from netrx.errors import RunDirError
from netrx.report.study import build_study_report, is_study_dir


def _figures(page: str) -> list[dict]:
    specs = re.findall(r"<script type='application/json' id='fig\d+-data'>(.*?)</script>", page,
                       flags=re.S)
    return [json.loads(s.replace("<\\/", "</")) for s in specs]


def _titled(figures: list[dict], start: str) -> dict:
    return next(f for f in figures if f["layout"]["title"]["text"].startswith(start))


def test_study_report_has_every_plot_with_log_axes_where_searched_on_log(tiny_study):
    assert is_study_dir(tiny_study)
    target = build_study_report(tiny_study)
    assert target == tiny_study / "report.html"
    page = target.read_text()
    for title in ("Study", "Optimization history", "Parallel coordinates",
                  "Hyperparameter importance", "Slices", "Learning curves"):
        assert f"<h2>{title}</h2>" in page
    assert "<script src" not in page  # plotly.js inline: readable offline
    figures = _figures(page)
    history = _titled(figures, "Optimization history")
    assert {t["name"] for t in history["data"]} >= {"completed", "best so far"}
    best = next(t for t in history["data"] if t["name"] == "best so far")["y"]
    assert best == sorted(best, reverse=True)  # never gets worse
    bars = _titled(figures, "Hyperparameter importance")["data"][0]
    assert set(bars["y"]) == {"optimizer.lr", "optimizer.b1", "model.dropout"}
    slices = _titled(figures, "Slices")
    titles = [a["text"] for a in slices["layout"]["annotations"]]
    assert titles == ["optimizer.lr", "1 − optimizer.b1", "model.dropout"]
    axes = {k: v.get("type") for k, v in slices["layout"].items() if k.startswith("xaxis")}
    assert axes["xaxis"] == "log" and axes["xaxis2"] == "log"  # α and 1 − β
    assert axes["xaxis3"] != "log"  # dropout is searched on a linear scale
    assert all(0 < x < 0.21 for x in slices["data"][1]["x"])  # 1 − β for β in (0.8, 0.99)
    dims = _titled(figures, "Parallel coordinates")["data"][0]["dimensions"]
    assert [d["label"] for d in dims] == ["optimizer.lr", "1 − optimizer.b1", "model.dropout",
                                         "dev metric"]
    assert dims[0]["ticktext"] == ["1e-3", "1e-2", "1e-1"]  # log10 with decades as ticks


def test_study_report_escapes_user_strings(tiny_study, tmp_path):
    hostile = tmp_path / "hostile"
    shutil.copytree(tiny_study, hostile)
    summary = json.loads((hostile / "tune.json").read_text())
    summary["study"] = "<script>alert('x')</script>"
    (hostile / "tune.json").write_text(json.dumps(summary))
    page = build_study_report(hostile, tmp_path / "out.html").read_text()
    assert "<script>alert('x')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_a_directory_that_is_not_a_study_is_a_netrx_error(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    assert not is_study_dir(tmp_path)
    with pytest.raises(RunDirError, match="not a netrx tune run directory"):
        build_study_report(tmp_path)


def test_study_report_renders_in_headless_chromium(tiny_study, browser, blank, tmp_path):
    page = build_study_report(tiny_study, tmp_path / "study.html")
    dom = browser.dom(page.as_uri())
    consoles = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line
                and "WebGL" not in line]  # parallel coordinates draw with software WebGL
    assert consoles == [], consoles
    expected = re.search(r'data-expected="(\d+)"', dom.stdout)
    rendered = re.search(r'data-rendered="(\d+)"', dom.stdout)
    assert expected and rendered, dom.stdout[:500]
    assert int(expected.group(1)) == 5
    assert rendered.group(1) == expected.group(1)
    shot = browser.shot(page.as_uri(), tmp_path / "study.png", size="1280,2600")
    assert not blank(shot)
