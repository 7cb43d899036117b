"""A read-only runs directory and a full disk (issue 16, item 7): one line ``error: …``,
exit 2, nothing half-written; once training has saved an epoch, the partial run is kept
and the message says how to resume it, and the resumed run is complete (report included).

Both are real where the machine allows it (``chmod`` for a normal user; a read-only or a
600 KB tmpfs for root with ``mount``) and simulated everywhere (``PermissionError`` /
``ENOSPC`` from the file system calls of :mod:`netrx.files`).

Before the fix: a read-only ``runs/`` gave a ``PermissionError`` traceback (exit 1); a full
disk an ``OSError`` traceback, and the run had already been renamed to ``runs/<name>``
without its report.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import types

import pytest

import netrx.files

FAST = ["--dataset", "iris", "--hidden", "4", "--epochs", "2", "--batch-size", "64",
        "--quiet"]


def _mount(target, options):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


def _umount(target):
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture
def readonly_dir(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    _mount(d, "ro,size=64k")
    yield d
    _umount(d)


@pytest.fixture
def small_disk(tmp_path):
    d = tmp_path / "small"
    d.mkdir()
    _mount(d, "size=600k")
    yield d
    _umount(d)


class _FullDisk:
    """``netrx.files``'s ``os`` with ``fdopen`` returning files that fail with ENOSPC once
    a file grows past ``free`` bytes (a disk with ``free`` bytes left for each file)."""

    def __init__(self, free: int) -> None:
        self.free = free

    def install(self, monkeypatch):
        real = os
        outer = self

        class File:
            def __init__(self, f):
                self.f, self.n = f, 0

            def write(self, data):
                self.n += len(data)
                if self.n > outer.free:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return self.f.write(data)

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

        proxy = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real)
                                         if not k.startswith("__")})
        proxy.fdopen = lambda fd, *a, **k: File(real.fdopen(fd, *a, **k))
        monkeypatch.setattr(netrx.files, "os", proxy)


def _one_line(r, *words):
    assert r.code == 2, r.err[-3000:]
    assert len(r.error_lines) == 1 and r.error_lines[0].startswith("error: "), r.err[-3000:]
    for w in words:
        assert w in r.err, r.err


def test_a_read_only_runs_directory(cli, readonly_dir):
    r = cli("train", *FAST, "--out", readonly_dir / "runs", "--name", "x")
    _one_line(r, "cannot write", "--out")
    assert not (readonly_dir / "runs").exists()


def test_a_read_only_runs_directory_simulated(cli, tmp_path, monkeypatch):
    real_mkdir = os.mkdir

    def mkdir(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / "ro")):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    r = cli("train", *FAST, "--out", tmp_path / "ro" / "runs", "--name", "x")
    _one_line(r, "cannot write", "Permission denied")


def test_a_full_disk_at_the_report_keeps_a_resumable_run(cli, tmp_path, monkeypatch):
    """Room for the small files, not for the report: no run directory without a report;
    the trained run stays in .partial and resumes once there is space."""
    runs = tmp_path / "runs"
    disk = _FullDisk(free=300_000)
    disk.install(monkeypatch)
    r = cli("train", *FAST, "--out", runs, "--name", "x")
    _one_line(r, "No space left on device", "x.partial", "--resume")
    assert not (runs / "x").exists()
    assert (runs / "x.partial" / "checkpoint.pt").is_file()
    assert not any(p.name.endswith(".tmp") for p in (runs / "x.partial").iterdir())
    monkeypatch.undo()  # space freed
    r = cli("train", runs / "x.partial" / "config.yaml", "--resume", "--quiet")
    assert r.code == 0, r.err
    for f in ("report.html", "weights.safetensors", "summary.json", "history.csv"):
        assert (runs / "x" / f).is_file()
    assert len((runs / "x" / "history.csv").read_text().splitlines()) == 1 + 2
    assert not (runs / "x.partial").exists()


def test_a_full_disk_from_the_start_leaves_nothing(cli, tmp_path, monkeypatch):
    _FullDisk(free=0).install(monkeypatch)
    r = cli("train", *FAST, "--out", tmp_path / "runs", "--name", "x")
    _one_line(r, "No space left on device")
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_real_small_disk(cli, small_disk, tmp_path):
    runs = small_disk / "runs"
    r = cli("train", *FAST, "--out", runs, "--name", "x")
    _one_line(r, "No space left on device", "--resume")
    assert not (runs / "x").exists()
    moved = tmp_path / "bigger"
    shutil.copytree(runs, moved)  # the user makes room: the runs move to a larger disk
    r = cli("train", moved / "x.partial" / "config.yaml", "--resume", "--quiet",
            "--out", moved)
    assert r.code == 0, r.err
    assert (moved / "x" / "report.html").is_file()
