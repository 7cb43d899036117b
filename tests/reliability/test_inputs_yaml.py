"""Hostile YAML configs (issue 16, items 3 and 7): every one is refused with one short line
``error: …`` and exit status 2, without building the expanded value (the Python memory
taken before the refusal is bounded).

Before the fix: a billion-laughs file (anchors a…j) grew memory ~20 MB/s without bound, and
at depth 5 the error message alone was ~300-400 KB (it echoed the expanded value); a
non-UTF-8 file, a top-level list or a scalar section crashed with a traceback (exit 1); a
recursive alias or deep nesting crashed in pydantic or PyYAML; PyYAML's multi-line message
for a Python tag spanned 5 lines.
"""

from __future__ import annotations

import tracemalloc

import pytest

import netrx.config.parse as parse_module
from netrx.config import load_yaml
from netrx.errors import ConfigError


def laughs(depth: int, width: int = 9) -> str:
    names = "abcdefghij"[:depth]
    lines = [f'{names[0]}: &{names[0]} [{", ".join(["lol"] * width)}]']
    for prev, name in zip(names, names[1:]):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * width)}]")
    lines.append(f"name: *{names[-1]}")
    return "\n".join(lines) + "\n"


#: Python memory a refusal may allocate, once the modules it imports are loaded (measured:
#: about 1 MiB for an alias bomb, 16 MiB to parse a 300 KB file; a bomb expanded takes
#: gigabytes)
REFUSAL_PEAK_BYTES = 64 << 20


def _refused(cli, path, tmp_path, *words: str) -> str:
    cli("train", path, "--out", tmp_path / "runs", "--quiet")  # first use imports modules
    tracemalloc.start()
    try:
        r = cli("train", path, "--out", tmp_path / "runs", "--quiet")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.code == 2, r.err[-2000:]
    assert len(r.error_lines) == 1 and r.error_lines[0].startswith("error: "), r.err[:2000]
    assert len(r.err) < 400, f"{len(r.err)} bytes of error"
    assert peak < REFUSAL_PEAK_BYTES, f"{peak / 2**20:.0f} MiB allocated before the refusal"
    assert not (tmp_path / "runs").exists()
    for w in words:
        assert w in r.err, r.err
    return r.err


@pytest.mark.parametrize("depth", [5, 10])
def test_billion_laughs_is_refused_before_expansion(cli, tmp_path, depth):
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs(depth))
    _refused(cli, path, tmp_path, "aliases")


@pytest.mark.parametrize("text, words", [
    ("a: &a [*a]\nname: *a\n", ["recursive"]),
    ("name: " + "[" * 5000 + "]" * 5000 + "\n", ["nested"]),
    ("h: &h [1, 2]\nname: [" + "*h, " * 60000 + "]\n", ["aliases"]),
], ids=["recursive-alias", "deep-nesting", "many-aliases"])
def test_recursive_and_deep_documents_are_refused(cli, tmp_path, text, words):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    _refused(cli, path, tmp_path, *words)


def test_python_tags_are_refused_on_one_line_and_never_run(cli, tmp_path):
    marker = tmp_path / "RAN"
    path = tmp_path / "tag.yaml"
    path.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\n'
                    "seed: !!python/name:os.system\n")
    _refused(cli, path, tmp_path, "not valid YAML", "line 1")
    assert not marker.exists()


def test_error_quotes_only_an_excerpt_of_a_long_value(cli, tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("seed: " + "x" * 200_000 + "\nmodel:\n  hidden: [" +
                    ", ".join(["-1"] * 20000) + "]\n")
    _refused(cli, path, tmp_path, "seed")


def test_many_unknown_keys_give_a_bounded_message(cli, tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"key{i}: {i}\n" for i in range(5000)))
    _refused(cli, path, tmp_path, "unknown config keys", "4997 more")


@pytest.mark.parametrize("content, words", [
    (b"name: caf\xe9\n", ["not UTF-8", "0xe9"]),
    (b"- data\n- model\n", ["mapping of sections", "list"]),
    (b"just a string\n", ["mapping of sections"]),
    (b"model: 3\n", ["section 'model'", "mapping"]),
    (b"model: [1, 2]\ntrain: {epochs: 1}\n", ["section 'model'"]),
], ids=["latin-1", "top-level-list", "top-level-scalar", "scalar-section", "list-section"])
def test_malformed_config_files(cli, tmp_path, content, words):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    _refused(cli, path, tmp_path, *words)


def test_oversized_file_is_refused_before_parsing(tmp_path, monkeypatch):
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * (2 << 20) + "\n")
    def never(*args, **kwargs):
        raise AssertionError("the oversized file was read or parsed")

    monkeypatch.setattr(parse_module, "loads_yaml", never)
    monkeypatch.setattr(type(path), "read_bytes", never)
    with pytest.raises(ConfigError, match="MiB"):
        load_yaml(path)


def test_an_ordinary_config_with_aliases_still_loads(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("model: &m {hidden: [8, 8]}\ntrain: {epochs: 2}\n"
                    "data: {dataset: iris}\nregularization: {l2: 0.1}\n")
    assert load_yaml(path)["model"] == {"hidden": [8, 8]}
