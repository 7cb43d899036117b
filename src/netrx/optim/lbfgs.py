"""L-BFGS for full-batch problems, for K independent problems at once.

Quasi-Newton: instead of inverting the Hessian (O(n³)) or storing an approximation of its
inverse (O(n²), BFGS), L-BFGS keeps the last m pairs s_i = x_{i+1} − x_i,
y_i = ∇f_{i+1} − ∇f_i and applies the inverse-Hessian estimate H to −∇f with the
two-loop recursion (Nocedal & Wright, Alg. 7.4)::

    q = −∇f
    for i = newest … oldest:  α_i = ρ_i·s_iᵀq,  q := q − α_i·y_i        (ρ_i = 1/y_iᵀs_i)
    r = H0·q,  H0 = s·y/y·y of the newest pair
    for i = oldest … newest:  β_i = ρ_i·y_iᵀr,  r := r + s_i·(α_i − β_i)
    d = r

then x := x + t·d with t from a backtracking (Armijo) line search: t = t0, t0/2, … until
f(x + t·d) ≤ f(x) + c1·t·∇fᵀd. A pair is stored only when yᵀs > 1e-10·‖s‖‖y‖ (the
curvature condition, relative so that it still holds for the tiny steps near a minimum;
Armijo alone does not guarantee it; torch uses the absolute yᵀs > 1e-10). The first
iteration has no curvature information: d = −∇f and t0 = min(1, 1/‖∇f‖₁)·lr, later
t0 = lr (the choices of ``torch.optim.LBFGS``; with ``line_search=None`` the path is that
of torch's LBFGS without line search, as long as the steps are not so tiny that the two
curvature safeguards disagree). Strong-Wolfe line search is not implemented: backtracking
is what vectorises over members.

Batched: ``x`` is [K, P] and ``fun(x) -> (f [K], ∇f [K, P])``; every member keeps its own
history, step and convergence flag, and every function evaluation evaluates all members
at once (a converged member is evaluated but does not move). Each line-search trial reads
one boolean back from the device to decide whether to try again; that is the price of
data-dependent control flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from netrx.errors import ConfigError

Fun = Callable[[Tensor], "tuple[Tensor, Tensor] | Tensor"]
CURVATURE = 1e-10  # store (s, y) only when yᵀs > CURVATURE·‖s‖‖y‖
LINE_SEARCHES = ("armijo", None)


class LBFGSState(NamedTuple):
    f: Tensor  # [K] f(x)
    g: Tensor  # [K, P] ∇f(x)
    S: Tensor  # [m, K, P] steps s_i (ring buffer per member)
    Y: Tensor  # [m, K, P] gradient changes y_i
    rho: Tensor  # [m, K] 1/y_iᵀs_i, 0 for empty slots
    ptr: Tensor  # [K] next slot to write
    H0: Tensor  # [K] initial inverse-Hessian scale s·y/y·y
    iterations: Tensor  # [K]
    evals: Tensor  # [K] function evaluations
    done: Tensor  # [K] bool: converged or stalled


def value_and_grad(fun: Fun) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """Wrap ``fun(x) -> f [K]`` (differentiable) or ``-> (f, g)`` into ``x -> (f, g)``."""

    def wrapped(x: Tensor) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            out = fun(xr)
            if isinstance(out, tuple):
                f, g = out
                return f.detach(), g.detach()
            (g,) = torch.autograd.grad(out.sum(), xr)
            return out.detach(), g

    return wrapped


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(dim=1)


@dataclass(frozen=True)
class LBFGS:
    """L-BFGS settings; ``init`` evaluates the start, ``step`` makes one iteration.

    Args:
        lr: scale of the first trial step (float or [K]); 1 is the quasi-Newton step.
        history: m, the number of (s, y) pairs kept.
        line_search: ``"armijo"`` (backtracking, halving t) or None (fixed step t0).
        c1: Armijo's sufficient-decrease constant.
        max_ls: line-search trials before a member is declared stalled.
        tolerance_grad: a member converges when max|∇f| ≤ this.
        tolerance_change: ... or when |Δf| or max|t·d| fall below this.
    """

    lr: float | Tensor = 1.0
    history: int = 10
    line_search: str | None = "armijo"
    c1: float = 1e-4
    max_ls: int = 25
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9

    def __post_init__(self) -> None:
        from netrx.errors import unknown_choice
        from netrx.optim.base import check_hyper

        check_hyper("lr", self.lr, 0.0)
        if self.line_search not in LINE_SEARCHES:
            raise unknown_choice("line search", str(self.line_search), ["armijo", "None"])
        if isinstance(self.history, bool) or int(self.history) != self.history \
                or self.history < 1:
            raise ConfigError(f"history={self.history!r} must be a whole number ≥ 1")
        if int(self.max_ls) != self.max_ls or self.max_ls < 1:
            raise ConfigError(f"max_ls={self.max_ls!r} must be a whole number ≥ 1")
        check_hyper("c1", self.c1, 0.0, 1.0)
        check_hyper("tolerance_grad", self.tolerance_grad, 0.0, low_inclusive=True)
        check_hyper("tolerance_change", self.tolerance_change, 0.0, low_inclusive=True)

    @torch.no_grad()
    def init(self, fun: Callable[[Tensor], tuple[Tensor, Tensor]], x: Tensor) -> LBFGSState:
        f, g = fun(x)
        K, P = x.shape
        m = int(self.history)
        zeros = torch.zeros(K, device=x.device, dtype=x.dtype)
        return LBFGSState(
            f.clone(), g.clone(), x.new_zeros(m, K, P), x.new_zeros(m, K, P),
            x.new_zeros(m, K), torch.zeros(K, dtype=torch.long, device=x.device),
            torch.ones_like(zeros), zeros.clone(), torch.ones_like(zeros),
            g.abs().amax(dim=1) <= self.tolerance_grad)

    def direction(self, state: LBFGSState) -> Tensor:
        """d = −H·∇f by the two-loop recursion over each member's own history."""
        m, K = state.rho.shape
        members = torch.arange(K, device=state.g.device)
        q = state.g.neg()
        alphas = []
        for j in range(m):  # newest first
            slot = (state.ptr - 1 - j) % m
            a = state.rho[slot, members] * _dot(state.S[slot, members], q)
            q.sub_(state.Y[slot, members] * a.unsqueeze(1))
            alphas.append((slot, a))
        r = q.mul_(state.H0.unsqueeze(1))
        for slot, a in reversed(alphas):  # oldest first
            b = state.rho[slot, members] * _dot(state.Y[slot, members], r)
            r.add_(state.S[slot, members] * (a - b).unsqueeze(1))
        return r

    @torch.no_grad()
    def step(self, fun: Callable[[Tensor], tuple[Tensor, Tensor]], x: Tensor,
             state: LBFGSState, active: Tensor | None = None) -> LBFGSState:
        """One iteration for every member that is not done (and is ``active``); ``x`` [K, P]
        is updated in place. Returns the new state."""
        f, g = state.f, state.g
        moving = ~state.done if active is None else ~state.done & active
        d = self.direction(state)
        lr = self.lr.to(x) if isinstance(self.lr, Tensor) else self.lr
        first = state.iterations == 0
        t0 = torch.where(first, torch.clamp(1.0 / g.abs().sum(dim=1), max=1.0) * lr,
                         torch.ones_like(f) * lr)
        gtd = _dot(g, d)
        done = state.done.clone()
        stalled = moving & (gtd > -self.tolerance_change)  # not a descent direction
        done |= stalled
        moving &= ~stalled
        evals = state.evals.clone()
        if self.line_search is None:
            t = torch.where(moving, t0, 0)
            x_new = x + t.unsqueeze(1) * d
            f_new, g_new = fun(x_new)
            evals += 1
            keep = moving.unsqueeze(1)
            f_new, g_new = torch.where(moving, f_new, f), torch.where(keep, g_new, g)
        else:
            t, x_new, f_new, g_new, failed, n = self._armijo(fun, x, f, g, d, gtd, t0, moving)
            evals += n
            done |= failed
            moving &= ~failed
        s = t.unsqueeze(1) * d
        y = g_new - g
        ys, yy = _dot(y, s), _dot(y, y)
        accept = moving & (ys > CURVATURE * torch.sqrt(_dot(s, s) * yy))
        S, Y, rho, ptr, H0 = state.S, state.Y, state.rho, state.ptr, state.H0
        members = torch.arange(x.shape[0], device=x.device)
        keep = accept.unsqueeze(1)
        S[ptr, members] = torch.where(keep, s, S[ptr, members])
        Y[ptr, members] = torch.where(keep, y, Y[ptr, members])
        rho[ptr, members] = torch.where(accept, 1.0 / torch.where(accept, ys, 1.0),
                                        rho[ptr, members])
        ptr = torch.where(accept, (ptr + 1) % S.shape[0], ptr)
        H0 = torch.where(accept, ys / torch.where(accept, yy, 1.0), H0)
        converged = moving & ((g_new.abs().amax(dim=1) <= self.tolerance_grad)
                              | (s.abs().amax(dim=1) <= self.tolerance_change)
                              | ((f_new - f).abs() < self.tolerance_change))
        done |= converged | (moving & ~torch.isfinite(f_new))
        x.copy_(torch.where(moving.unsqueeze(1), x_new, x))
        return LBFGSState(f_new, g_new, S, Y, rho, ptr, H0,
                          state.iterations + moving.to(x.dtype), evals, done)

    def _armijo(self, fun, x, f, g, d, gtd, t0, moving):
        """Backtracking: t = t0, t0/2, … until f(x + t·d) ≤ f(x) + c1·t·∇fᵀd, per member."""
        t = t0.clone()
        pending = moving.clone()
        t_ok = torch.zeros_like(t)
        x_new, f_new, g_new = x.clone(), f.clone(), g.clone()
        n = torch.zeros_like(f)
        for _ in range(int(self.max_ls)):
            xt = x + torch.where(pending, t, 0).unsqueeze(1) * d
            ft, gt = fun(xt)
            n += 1
            ok = pending & torch.isfinite(ft) & (ft <= f + self.c1 * t * gtd)
            x_new = torch.where(ok.unsqueeze(1), xt, x_new)
            g_new = torch.where(ok.unsqueeze(1), gt, g_new)
            f_new = torch.where(ok, ft, f_new)
            t_ok = torch.where(ok, t, t_ok)
            pending &= ~ok
            t = torch.where(pending, t * 0.5, t)
            if not bool(pending.any()):
                break
        return t_ok, x_new, f_new, g_new, pending, n


class LBFGSResult(NamedTuple):
    x: Tensor  # the minimiser found, shaped like x0
    f: Tensor  # f(x), [K] (a 0-d tensor for a 1-D x0)
    iterations: Tensor  # [K]
    evals: Tensor  # [K]
    converged: Tensor  # [K] bool
    path: list[Tensor]  # x after each iteration (with record=True)


def minimize(fun: Fun, x0: Tensor, *, max_iter: int = 100, record: bool = False,
             **options: object) -> LBFGSResult:
    """Minimise ``fun`` from ``x0`` with :class:`LBFGS` (``options`` are its settings).

    ``x0`` is one problem [P] or K independent ones [K, P]; ``fun(x)`` returns f [K]
    (gradients by autograd) or ``(f, ∇f)``. Members run together; a converged member
    stops moving while the others go on.
    """
    opt = LBFGS(**options)
    single = x0.dim() == 1
    x = (x0.unsqueeze(0) if single else x0).detach().clone()
    vg = value_and_grad((lambda z: _squeeze_call(fun, z)) if single else fun)
    state = opt.init(vg, x)
    path = [x.clone()] if record else []
    for _ in range(int(max_iter)):
        if bool(state.done.all()):
            break
        state = opt.step(vg, x, state)
        if record:
            path.append(x.clone())
    out = x[0] if single else x
    return LBFGSResult(out, state.f[0] if single else state.f, state.iterations, state.evals,
                       state.done, [p[0] for p in path] if single else path)


def _squeeze_call(fun: Fun, z: Tensor):
    out = fun(z[0])
    if isinstance(out, tuple):
        return out[0].reshape(1), out[1].reshape(1, -1)
    return out.reshape(1)
