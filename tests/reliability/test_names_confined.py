"""Run names are one plain path component (issue 16, item 4): ``--name`` (and a config's
``name:``) can never write outside the runs directory or nest inside it, for ``train``,
``tune`` and ``improve``; each bad name is one line ``error: …``, exit 2, nothing written.

Before the fix: ``--name ../../escape``, an absolute path and ``a/b`` trained and wrote
there; ``--name ""`` and ``--name .`` trained fully, then crashed on the final rename and
left ``runs/.partial`` behind.
"""

from __future__ import annotations

import pytest
import yaml

BAD = ["../../escape", "../sibling", "/ABSOLUTE", "a/b", "", ".", "..", "x.partial", "-rf",
       "a\\b", "line\nbreak", "x" * 300]
FAST = ["--dataset", "iris", "--hidden", "4", "--epochs", "1", "--batch-size", "64",
        "--quiet"]


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("name", BAD, ids=range(len(BAD)))
def test_train_refuses_a_name_that_is_not_one_plain_component(cli, tmp_path, monkeypatch,
                                                                name):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    out = work / "runs"
    name = name.replace("/ABSOLUTE", str(tmp_path / "abs"))
    before = _tree(tmp_path)
    r = cli("train", *FAST, "--out", out, "--name", name)
    assert r.code == 2, r.err
    assert len(r.error_lines) == 1 and "not one plain name" in r.err, r.err
    assert _tree(tmp_path) == before  # nothing written anywhere


@pytest.mark.parametrize("name", ["../escape", "a/b", "."])
def test_a_config_file_name_is_checked_too(cli, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": name, "out": str(tmp_path / "x" / "runs"),
                                    "data": {"dataset": "iris"},
                                    "model": {"hidden": [4]}, "train": {"epochs": 1}}))
    before = _tree(tmp_path)
    r = cli("train", path, "--quiet")
    assert r.code == 2 and "not one plain name" in r.err, r.err
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("command", ["tune", "improve"])
@pytest.mark.parametrize("name", ["../../escape", "a/b", ""])
def test_tune_and_improve_refuse_it_before_doing_anything(cli, tmp_path, monkeypatch,
                                                          command, name):
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "w"
    work.mkdir()
    config = work / "t.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"dataset": "iris"}, "model": {"hidden": [4]},
        "train": {"epochs": 1, "batch_size": 64},
        "search": {"space": {"optimizer.lr": "log_uniform(1e-3, 1e-1)"},
                   "strategy": "random", "trials": 1, "slots": 1, "pruner": "none"}}))
    before = _tree(tmp_path)
    args = [config] if command == "tune" else ["iris", "--budget", "5s"]
    r = cli(command, *args, "--name", name, "--out", work / "runs", "--quiet")
    assert r.code == 2 and "not one plain name" in r.err, r.err
    assert _tree(tmp_path) == before


def test_a_plain_name_and_the_default_name_still_work(cli, tmp_path):
    r = cli("train", *FAST, "--out", tmp_path, "--name", "café-1.2_x")
    assert r.code == 0, r.err
    assert (tmp_path / "café-1.2_x" / "weights.safetensors").is_file()
    csv = tmp_path / "my data (v2).csv"
    csv.write_text("x,y\n" + "".join(f"{i % 7},{i % 2}\n" for i in range(60)))
    r = cli("train", "--dataset", csv, "--target", "y", "--hidden", "4", "--epochs", "1",
            "--quiet", "--out", tmp_path / "runs")
    assert r.code == 0, r.err
    [run] = (tmp_path / "runs").iterdir()  # one directory, its name made safe
    assert run.name.startswith("my-data-v2-mlp-") and (run / "report.html").is_file()
