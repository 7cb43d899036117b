"""MkDocs hook: netrx's docstrings cross-reference in Sphinx's style (:class:`~netrx.x.Y`,
:func:`netrx.fit`, :mod:`...`), which mkdocstrings renders literally as ":class:<code>…</code>".
Show those as code, the last component only where the role has Sphinx's ``~``."""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def _code(m: re.Match) -> str:
    tilde, target = m.group(1), m.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs) -> str:
    return _ROLE.sub(_code, html)
