"""The README stays a front page: at most 400 lines, opening with the two commands, and
every relative link in it (to a file, a folder or a heading) resolves. The manual lives in
docs/, which `make test` builds with `mkdocs build --strict`."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 400

# link text may hold one level of brackets: [`netrx train [CONFIG]`](docs/cli.md#netrx-train)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _outside_fences(text: str) -> list[str]:
    lines, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if not fence:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces → '-'."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in _outside_fences(path.read_text(encoding="utf-8")):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug, n = _slug(m.group(1)), 1
            while slug in found:  # GitHub numbers repeated headings: x, x-1, x-2
                slug = f"{_slug(m.group(1))}-{n}"
                n += 1
            found.add(slug)
    return found


def _links_in(text: str) -> list[str]:
    return [m.group(1) for line in _outside_fences(text) for m in LINK.finditer(line)]


def _links(path: Path) -> list[str]:
    return _links_in(path.read_text(encoding="utf-8"))


def test_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_LINES}): move the detail into docs/")


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = text.split("```", 2)[1]
    assert "make demo" in first_block and "make test" in first_block


def test_readme_relative_links_resolve() -> None:
    broken = []
    links = _links(README)
    assert links, "no links found in README.md"
    for target in links:
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not checked here
            continue
        file_part, _, anchor = target.partition("#")
        path = (README.parent / file_part).resolve() if file_part else README
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading with anchor #{anchor} in {path.name}")
    assert not broken, "broken links in README.md:\n" + "\n".join(broken)


def test_links_are_found() -> None:
    assert _links_in("[`netrx train [CONFIG]`](docs/cli.md#netrx-train) and ![a](b.png)") == \
        ["docs/cli.md#netrx-train", "b.png"]


def test_slug_matches_github() -> None:
    assert _slug("netrx train") == "netrx-train"
    assert _slug("What a search writes (`runs/<name>/`)") == "what-a-search-writes-runsname"
    assert _slug("L-BFGS and `netrx train --optimizer lbfgs`") == \
        "l-bfgs-and-netrx-train---optimizer-lbfgs"
