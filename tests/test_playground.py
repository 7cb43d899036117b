"""The optimizer playground: trajectories that show what the notes describe, and the files."""

import numpy as np
import pytest
from typer.testing import CliRunner

from netrx.cli.app import app
from netrx.errors import ConfigError
from netrx.report import playground


@pytest.fixture(scope="module")
def results():
    return playground.run(steps=60)


def _by_name(trajs):
    return {t.optimizer: t for t in trajs}


def test_every_optimizer_runs_on_every_function(results):
    assert list(results) == list(playground.FUNCTIONS)
    for trajs in results.values():
        assert [t.optimizer for t in trajs] == list(playground.ORDER)
        for t in trajs:
            assert np.isfinite(t.loss.numpy()).all()
            assert float(t.loss[-1]) < float(t.loss[0]), t.optimizer


def test_sgd_zigzags_across_the_valley_and_momentum_damps_it(results):
    q = _by_name(results["elongated quadratic"])
    y_sgd = q["sgd"].path[:, 1].numpy()
    y_mom = q["momentum"].path[:, 1].numpy()
    flips_sgd = int((np.sign(y_sgd[1:]) != np.sign(y_sgd[:-1])).sum())
    flips_mom = int((np.sign(y_mom[1:]) != np.sign(y_mom[:-1])).sum())
    assert flips_sgd >= 50  # the steep coordinate changes sign at almost every step
    assert flips_mom < flips_sgd / 3


def test_adaptive_methods_leave_the_saddle_faster_than_sgd(results):
    s = _by_name(results["saddle"])
    escaped = {name: int(np.argmax(np.abs(t.path[:, 1].numpy()) > 0.5))
               for name, t in s.items() if np.abs(t.path[:, 1].numpy()).max() > 0.5}
    assert "sgd" not in escaped  # still on the ridge after 60 steps
    assert "adam" in escaped and "rmsprop" in escaped


def test_lbfgs_solves_rosenbrock(results):
    r = _by_name(results["rosenbrock"])
    assert float(r["lbfgs"].loss[-1]) < 1e-8
    assert min(float(t.loss[-1]) for n, t in r.items() if n != "lbfgs") > 1e-4


def test_files_are_written_and_the_page_works_offline(tmp_path, results):
    png = playground.write_png(results, tmp_path / "p.png")
    page = playground.write_html(results, tmp_path / "p.html", title="<b>mine</b> & co")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert "&lt;b&gt;mine&lt;/b&gt; &amp; co" in text and "<b>mine</b>" not in text
    assert "<script src" not in text  # nothing is fetched: plotly.js is embedded
    assert "plotly.js v" in text and len(text) > 1_000_000
    assert text.count("Plotly.newPlot(") >= 2 * len(results)


def test_cli_playground(tmp_path):
    res = CliRunner().invoke(app, ["playground", "--out", str(tmp_path), "--steps", "5"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "playground.png").is_file() and (tmp_path / "playground.html").is_file()
    res = CliRunner().invoke(app, ["playground", "--out", str(tmp_path), "--steps", "0"])
    assert res.exit_code == 2 and "steps=0" in res.output


def test_unknown_names():
    with pytest.raises(ConfigError, match="did you mean 'rosenbrock'"):
        playground.run(steps=2, functions=["rosenbrok"])
