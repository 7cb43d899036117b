"""netrx.files: atomic writes that others can read (0666 less the umask), JSON with NaN."""

import json
import os
import stat

import pytest

from netrx.files import write_atomic, write_json


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_mode_the_umask_says(tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "a.txt", lambda f: f.write("x"), mode="w")
        write_json(tmp_path / "b.json", {"v": float("nan")})
    finally:
        os.umask(old)
    for name in ("a.txt", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected
    assert json.loads((tmp_path / "b.json").read_text()) == {"v": None}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_run_directory_is_readable_by_others(tmp_path):
    from netrx.config import parse_config
    from netrx.experiment import run

    old = os.umask(0o022)
    try:
        result = run(parse_config({"name": "r", "out": str(tmp_path), "data": {"dataset": "iris"},
                                   "train": {"epochs": 2}}), progress=False)
    finally:
        os.umask(old)
    for f in result.run_dir.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) & 0o044 == 0o044, f.name
