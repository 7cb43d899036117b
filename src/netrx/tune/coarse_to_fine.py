"""Coarse to fine: search the whole box, then a smaller box around the best points.

The notes: sample the whole region coarsely; where the best points cluster, zoom into a
smaller box and sample it more densely. Here the box is computed on each key's search
scale, so it is a box in log α and in log10(1 − β):

    top   = the best ⌈q·n⌉ of the n completed coarse trials (lowest dev error)
    r_i   = scale(value of key in trial i)         (log10 v, log10(1 − v) or v)
    [a,b] = [min r_i − m·w, max r_i + m·w] ∩ [scale(lo), scale(hi)],  w = the width of the
            key's whole range on its scale, m = ``margin``
    choice keys keep the options that occur in ``top``

The fine stage draws its points uniformly (``random``) or quasi-randomly (``sobol``) in the
box and enqueues them into the same study, so that one study holds both stages (each
trial is tagged ``netrx:stage``) and every plot and importance analysis sees all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from netrx.errors import ConfigError
from netrx.tune.distributions import Distribution
from netrx.tune.space import Space


def scale_range(d: Distribution) -> tuple[float, float]:
    """The key's whole range on its search scale, ordered (a < b)."""
    lo, hi = d.bounds()
    a, b = d.to_scale(lo), d.to_scale(hi)
    return (a, b) if a <= b else (b, a)


def narrow(space: Space, best: Sequence[Mapping[str, Any]], *, margin: float = 0.1
           ) -> tuple[Space, dict[str, dict[str, Any]]]:
    """The space narrowed to the box around ``best`` (each a {key: value} of a top trial).

    Returns the new space and the box, {key: {scale, lo, hi} or {choices}}, with the
    bounds as values (not scale coordinates) and the original range beside them."""
    if not best:
        raise ConfigError("coarse_to_fine: no completed coarse trial to narrow around "
                          "(all were pruned or failed); widen the space or lower the pruning")
    dists: dict[str, Distribution] = {}
    box: dict[str, dict[str, Any]] = {}
    for p in space:
        seen = [b[p.key] for b in best if p.key in b]
        if not seen:
            box[p.key] = {"scale": p.dist.scale, "unchanged": True}
            continue
        d = p.dist
        if d.kind == "choice":
            keep = tuple(v for v in d.args if any(_same(v, s) for s in seen))
            dists[p.key] = Distribution("choice", keep)
            box[p.key] = {"scale": "categorical", "choices": list(keep),
                          "from": list(d.args)}
            continue
        a, b = scale_range(d)
        w = b - a
        rs = [d.to_scale(v) for v in seen]
        lo_r, hi_r = max(a, min(rs) - margin * w), min(b, max(rs) + margin * w)
        if hi_r - lo_r < 1e-3 * w:  # one point and no margin: keep a sliver around it
            mid = (lo_r + hi_r) / 2
            lo_r, hi_r = max(a, mid - 5e-4 * w), min(b, mid + 5e-4 * w)
        v1, v2 = sorted((d.from_scale(lo_r), d.from_scale(hi_r)))
        nd = d.narrowed(v1, v2)
        dists[p.key] = nd
        box[p.key] = {"scale": d.scale, "lo": nd.bounds()[0], "hi": nd.bounds()[1],
                      "from": list(d.bounds())}
    return space.with_dists(dists), box


def _same(a: Any, b: Any) -> bool:
    return repr(a) == repr(b)


def from_unit(d: Distribution, u: float) -> Any:
    """Map u ∈ [0, 1) to a value, uniformly on the distribution's scale."""
    if d.kind == "choice":
        return d.args[min(len(d.args) - 1, int(u * len(d.args)))]
    lo, hi = d.bounds()
    if d.kind == "int":
        if d.log:
            v = math.exp(math.log(lo) + u * (math.log(hi + 1) - math.log(lo)))
        else:
            v = lo + u * (hi - lo + 1)
        return int(min(hi, math.floor(v)))
    a, b = d.to_scale(lo), d.to_scale(hi)
    return min(hi, max(lo, d.from_scale(a + u * (b - a))))


def sample_box(space: Space, n: int, *, seed: int, fixed: Mapping[str, Any],
               method: str = "random") -> list[dict[str, Any]]:
    """``n`` configurations drawn in ``space`` (uniform on each key's scale; ``sobol``:
    scrambled Sobol' points); conditional keys appear only where their condition holds
    (``fixed`` gives the values of condition keys that are not searched)."""
    d = len(space)
    if method == "sobol":
        from scipy.stats import qmc

        m = max(0, math.ceil(math.log2(max(n, 1))))
        units = qmc.Sobol(d, scramble=True, seed=seed).random_base2(m)[:n]
    else:
        units = np.random.default_rng(seed).random((n, d))
    out = []
    for row in units:
        values: dict[str, Any] = {}
        for u, p in zip(row, space):
            if p.active({**fixed, **values}):
                values[p.key] = from_unit(p.dist, float(u))
        out.append(values)
    return out


def format_box(record: dict[str, Any]) -> str:
    """The narrowed box, one key per line, on each key's scale."""
    lines = [f"coarse_to_fine: box around the best {len(record['top'])} of "
             f"{record['coarse_completed']} completed coarse trials (q={record['q']}, "
             f"margin={record['margin']}):"]
    for key, b in record["box"].items():
        if b.get("unchanged"):
            lines.append(f"  {key}: unchanged")
        elif "choices" in b:
            lines.append(f"  {key}: {b['choices']} (from {b['from']})")
        else:
            lines.append(f"  {key}: [{b['lo']:.4g}, {b['hi']:.4g}] on a {b['scale']} scale "
                         f"(from [{b['from'][0]:.4g}, {b['from'][1]:.4g}])")
    return "\n".join(lines)
