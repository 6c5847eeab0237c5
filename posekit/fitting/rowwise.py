"""Minimise many independent problems at once: one problem per row of a batch, each with its own optimiser state.

A batch of B images fitted by SMPLify is B independent problems that share only the cost of a batched
forward pass. Summing their energies and handing the sum to one ``torch.optim.LBFGS`` would couple them:
one line search picks one step length for every image (an image can get worse while the sum falls), one
curvature memory mixes every image's gradients, and one stopping test ends all images together. Here
every row keeps its own

- L-BFGS history (s, y pairs; the two-loop recursion is batched over rows),
- strong-Wolfe line search (Nocedal & Wright 2006, Algorithms 3.5/3.6, cubic interpolation), run as a
  small state machine per row while the energy is evaluated once per round for all rows still searching,
- stopping test (relative energy change ``ftol``, gradient and step tolerances),

so a batched fit follows the same iterates as fitting each image alone (up to float rounding of the
batched forward pass), and each row's energy never increases (the line search accepts a step only under
the sufficient-decrease condition). Adam (``method="adam"``) is element-wise already; rows stop
independently there too.

The energy is a function ``energy(parts, rows) -> {term: (n,)}`` with a ``"total"``: ``parts`` are the
variables' rows ``rows`` (a LongTensor of n row indices into the batch, same order), each of shape
(n, ...), and the energy indexes its own per-row data with ``rows``. It must not mix rows.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = ["minimise_rows", "ROW_METHODS"]

ROW_METHODS = ("lbfgs", "adam")
TOL_GRAD = 1e-7          # a row whose largest gradient entry is below this has converged
TOL_CHANGE = 1e-9        # ... or whose step moves no variable by more than this
C1, C2 = 1e-4, 0.9       # Wolfe constants (sufficient decrease, curvature)


class _Flat:
    """Concatenate variables with a leading batch dimension into one (B, D) matrix and back."""

    def __init__(self, variables: list[torch.Tensor]):
        self.shapes = [tuple(v.shape[1:]) for v in variables]
        self.sizes = [math.prod(s) for s in self.shapes]

    def flat(self, variables) -> torch.Tensor:                     # -> (B,D)
        return torch.cat([v.detach().reshape(v.shape[0], -1) for v in variables], dim=1)

    def parts(self, x: torch.Tensor) -> list[torch.Tensor]:        # (n,D) -> [(n,*shape)]
        return [p.reshape(x.shape[0], *s) for p, s in zip(torch.split(x, self.sizes, dim=1), self.shapes)]


def _cubic_min(t1, f1, g1, t2, f2, g2, lo, hi) -> float:
    """Minimiser of the cubic through (t1, f1, f'1), (t2, f2, f'2), clamped to [lo, hi]; the midpoint if none."""
    if all(math.isfinite(v) for v in (f1, g1, f2, g2)) and t1 != t2:
        d1 = g1 + g2 - 3 * (f1 - f2) / (t1 - t2)
        disc = d1 * d1 - g1 * g2
        if disc >= 0:
            d2 = math.sqrt(disc)
            if t1 <= t2:
                den = g2 - g1 + 2 * d2
                t = t2 - (t2 - t1) * (g2 + d2 - d1) / den if den != 0 else float("nan")
            else:
                den = g1 - g2 + 2 * d2
                t = t1 - (t1 - t2) * (g1 + d2 - d1) / den if den != 0 else float("nan")
            if math.isfinite(t):
                return min(max(t, lo), hi)
    return 0.5 * (lo + hi)


def _strong_wolfe(f0: float, gtd0: float, t: float, d_max: float, max_eval: int):
    """One row's line search along d from the current point (energy f0, slope gtd0 < 0).

    A generator: it yields trial step lengths t and is sent ``(f, gtd, key)`` for each (the energy, the
    slope g·d at x + t d, and a key the caller uses to find that evaluation again). It returns
    ``(t, f, key)`` of the accepted point; ``t = 0`` (key None) when no point decreased the energy.
    """
    prev = (0.0, f0, gtd0, None)
    f, gtd, key = yield t
    n = 1
    while True:                                                       # bracketing (Alg. 3.5)
        cur = (t, f, gtd, key)
        if f > f0 + C1 * t * gtd0 or not math.isfinite(f) or (n > 1 and f >= prev[1]):
            bracket = [prev, cur]
            break
        if abs(gtd) <= -C2 * gtd0:
            return t, f, key
        if gtd >= 0:
            bracket = [prev, cur]
            break
        if n >= max_eval:
            return t, f, key                                          # sufficient decrease holds here
        t = _cubic_min(prev[0], prev[1], prev[2], t, f, gtd, t + 0.01 * (t - prev[0]), 10 * t)
        prev = cur
        f, gtd, key = yield t
        n += 1
    insufficient = False
    while n < max_eval:                                               # zoom (Alg. 3.6)
        low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        a, b = min(bracket[0][0], bracket[1][0]), max(bracket[0][0], bracket[1][0])
        if (b - a) * d_max < TOL_CHANGE:
            break
        t = _cubic_min(*bracket[0][:3], *bracket[1][:3], a, b)
        eps = 0.1 * (b - a)
        if min(b - t, t - a) < eps:                                   # too close to an end: move inwards
            if insufficient or t >= b or t <= a:
                t = b - eps if abs(t - b) < abs(t - a) else a + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f, gtd, key = yield t
        n += 1
        cur = (t, f, gtd, key)
        if f > f0 + C1 * t * gtd0 or not math.isfinite(f) or f >= bracket[low][1]:
            bracket[high] = cur
        else:
            if abs(gtd) <= -C2 * gtd0:
                return t, f, key
            if gtd * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = cur
    best = min(bracket, key=lambda p: p[1])
    return (best[0], best[1], best[3]) if best[1] < f0 else (0.0, f0, None)


def _evaluate(energy, flat: _Flat, x: torch.Tensor, rows: torch.Tensor):
    """Energy terms and gradient of rows ``rows`` at x (n,D) -> (f (n,), g (n,D), terms); non-finite f -> +inf, g 0."""
    n = x.shape[0]
    if n == 1:          # a batch of one may take other kernels (summing in another order) than any larger batch
        x, rows = x.expand(2, -1), rows.expand(2)
    xs = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        terms = energy(flat.parts(xs), rows)
        total = terms["total"]
        g = (torch.autograd.grad(total.sum(), xs, allow_unused=True)[0] if total.requires_grad else None)
    g = (torch.zeros_like(xs) if g is None else g.detach())[:n]
    f = total.detach()[:n].clone()
    terms = {k: v[:n] for k, v in terms.items()}
    bad = ~torch.isfinite(f) | ~torch.isfinite(g).all(-1)
    f[bad] = float("inf")
    g[bad] = 0.0
    return f, g, {k: v.detach() for k, v in terms.items()}


def _lbfgs(variables, energy, iters, ftol, lr, history, max_eval, record):
    flat = _Flat(variables)
    x = flat.flat(variables)                                          # (B,D)
    B, D = x.shape
    every = torch.arange(B, device=x.device)
    f, g, terms = _evaluate(energy, flat, x, every)
    cur_terms = {k: v.clone() for k, v in terms.items()}
    if record is not None:
        record({k: v.clone() for k, v in cur_terms.items()})
    S = x.new_zeros(B, history, D)                                    # newest pair last
    Y = x.new_zeros(B, history, D)
    rho = x.new_zeros(B, history)
    pairs = torch.zeros(B, dtype=torch.long, device=x.device)
    active = torch.isfinite(f) & (g.abs().amax(-1) > TOL_GRAD)
    for _ in range(iters):
        if not active.any():
            break
        rows = torch.nonzero(active).flatten()
        # ---- direction: two-loop recursion, batched over the active rows
        q = -g[rows]                                                  # (n,D)
        Sr, Yr, rr = S[rows], Y[rows], rho[rows]
        alpha = x.new_zeros(len(rows), history)
        for i in reversed(range(history)):
            alpha[:, i] = rr[:, i] * (Sr[:, i] * q).sum(-1)
            q = q - alpha[:, i:i + 1] * Yr[:, i]
        ys, yy = (Sr[:, -1] * Yr[:, -1]).sum(-1), (Yr[:, -1] ** 2).sum(-1)
        gamma = torch.where(pairs[rows] > 0, ys / yy.clamp_min(1e-30), torch.ones_like(ys))
        d = q * gamma[:, None]
        for i in range(history):
            beta = rr[:, i] * (Yr[:, i] * d).sum(-1)
            d = d + Sr[:, i] * (alpha[:, i] - beta)[:, None]
        gtd = (g[rows] * d).sum(-1)
        first = pairs[rows] == 0
        t0 = torch.where(first, lr * torch.clamp(1.0 / g[rows].abs().sum(-1).clamp_min(1e-30), max=1.0),
                         torch.full_like(gtd, lr))
        descent = gtd < -TOL_CHANGE
        active[rows[~descent]] = False
        rows, d, gtd, t0 = rows[descent], d[descent], gtd[descent], t0[descent]
        if len(rows) == 0:
            break
        # ---- line searches, one per row, evaluated together
        f_rows, gtd_l, dmax = f[rows].tolist(), gtd.tolist(), d.abs().amax(-1).tolist()
        searches, trial, result = {}, {}, {}
        for j in range(len(rows)):
            searches[j] = _strong_wolfe(f_rows[j], gtd_l[j], float(t0[j]), dmax[j], max_eval)
            trial[j] = next(searches[j])
        evals = []                                                    # (local indices, x, f, g, terms)
        while trial:
            loc = torch.tensor(sorted(trial), device=x.device)
            t = torch.tensor([trial[j] for j in sorted(trial)], dtype=x.dtype, device=x.device)
            xt = x[rows[loc]] + t[:, None] * d[loc]
            ft, gt, tt = _evaluate(energy, flat, xt, rows[loc])
            evals.append((loc, xt, ft, gt, tt))
            slopes = (gt * d[loc]).sum(-1).tolist()
            fl = ft.tolist()
            for k, j in enumerate(loc.tolist()):
                try:
                    trial[j] = searches[j].send((fl[k], slopes[k], (len(evals) - 1, k)))
                except StopIteration as stop:
                    result[j] = stop.value
                    del trial[j]
        # ---- accept, update the memories, stop rows that converged
        for j, (t_acc, f_acc, key) in result.items():
            r = int(rows[j])
            if key is None:                                           # no decrease along d: converged
                active[r] = False
                continue
            e, k = key
            loc, xt, ft, gt, tt = evals[e]
            s, y = xt[k] - x[r], gt[k] - g[r]
            sy = float((s * y).sum())
            if sy > 1e-10:
                S[r] = torch.cat([S[r, 1:], s[None]])
                Y[r] = torch.cat([Y[r, 1:], y[None]])
                rho[r] = torch.cat([rho[r, 1:], rho.new_tensor([1.0 / sy])])
                pairs[r] += 1
            f_old = float(f[r])
            x[r], f[r], g[r] = xt[k], ft[k], gt[k]
            for name, v in tt.items():
                cur_terms[name][r] = v[k]
            if (abs(f_old - f_acc) <= ftol * max(abs(f_old), 1.0) or float(s.abs().max()) <= TOL_CHANGE
                    or float(g[r].abs().max()) <= TOL_GRAD):
                active[r] = False
        if record is not None:
            record({k: v.clone() for k, v in cur_terms.items()})
    with torch.no_grad():
        for v, p in zip(variables, flat.parts(x)):
            v.copy_(p)


def _adam(variables, energy, iters, ftol, lr, lr_floor, record):
    for v in variables:
        v.requires_grad_(True)
    opt = torch.optim.Adam(variables, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: lr_floor + (1 - lr_floor) * 0.5 * (1 + math.cos(math.pi * min(t, iters) / max(iters, 1))))
    B = variables[0].shape[0]
    every = torch.arange(B, device=variables[0].device)
    active = torch.ones(B, dtype=torch.bool, device=every.device)
    prev = None
    for _ in range(iters):
        saved = [v.detach().clone() for v in variables]
        opt.zero_grad()
        terms = energy(variables, every)
        total = terms["total"]
        finite = torch.isfinite(total)
        total.masked_fill(~finite, 0.0).sum().backward()
        cur = {k: v.detach().clone() for k, v in terms.items()}
        if record is not None:
            record(cur)
        active &= finite                                              # a row whose energy broke stops where it was
        if prev is not None:
            f, fp = cur["total"], prev
            active &= (fp - f).abs() > ftol * fp.abs().clamp_min(1.0)
        prev = cur["total"]
        if not active.any():
            break
        opt.step()
        sched.step()
        with torch.no_grad():                                         # stopped rows keep their values
            for v, s in zip(variables, saved):
                v[~active] = s[~active]
                bad = ~torch.isfinite(v.reshape(B, -1)).all(-1)
                v[bad] = s[bad]
                active &= ~bad
    if record is not None:
        with torch.no_grad():
            record({k: v.detach().clone() for k, v in energy(variables, every).items()})


def minimise_rows(variables: list[torch.Tensor], energy: Callable, iters: int, method: str = "lbfgs",
                  lr: float | None = None, ftol: float = 1e-7, history: int = 10, max_eval: int = 25,
                  lr_floor: float = 1.0, record: Callable | None = None) -> None:
    """Minimise every row's energy independently; the variables (leaf tensors, leading dim B) are updated in place.

    energy(parts, rows) -> {term: (n,)} with "total" (see the module docstring); iters: optimiser steps
    (L-BFGS: one direction and one line search of at most ``max_eval`` evaluations per step and row);
    lr: L-BFGS's initial step (1.0) or Adam's learning rate (0.02), Adam's decaying by a cosine to
    ``lr * lr_floor``; ftol: a row stops when its relative energy change is below this. ``record(terms)``
    gets the (B,) terms at the start and after every step (stopped rows repeat their last values).
    """
    if method not in ROW_METHODS:
        raise ValueError(f"optimizer must be one of {ROW_METHODS}, got {method!r}")
    if iters <= 0:
        if record is not None:
            with torch.no_grad():
                B = variables[0].shape[0]
                record({k: v.detach() for k, v in energy(variables, torch.arange(B)).items()})
        return
    if method == "lbfgs":
        _lbfgs(variables, energy, iters, ftol, lr or 1.0, history, max_eval, record)
    else:
        _adam(variables, energy, iters, ftol, lr or 0.02, lr_floor, record)
