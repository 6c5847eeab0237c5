"""Row-wise minimisation: every row of a batch is its own problem (own L-BFGS memory, line search, stopping).

The energies here use only element-wise arithmetic on each row, so a row's numbers cannot depend on the
batch around it: batched and one-row-at-a-time runs must agree exactly.
"""
import math

import pytest
import torch

from posekit.fitting.rowwise import _cubic_min, minimise_rows

# Rosenbrock rows of different scales: f(x, y) = (a − x)² + b (y − x²)², minimum at (a, a²).
A = torch.tensor([1.0, -0.5, 2.0, 1.5, 0.3], dtype=torch.float64)
BB = torch.tensor([100.0, 5.0, 30.0, 1.0, 200.0], dtype=torch.float64)
START = torch.tensor([[-1.2, 1.0], [2.0, -1.0], [0.0, 0.0], [3.0, 3.0], [-0.5, 2.0]], dtype=torch.float64)


def rosenbrock(parts, rows):
    (x,) = parts
    a, b = A[rows], BB[rows]
    f = (a - x[:, 0]) ** 2 + b * (x[:, 1] - x[:, 0] ** 2) ** 2
    return {"total": f, "fit": (a - x[:, 0]) ** 2}


def _solve(rows, iters=200, method="lbfgs", **kw):
    x = START[rows].clone()
    rec = []
    minimise_rows([x], lambda parts, r: rosenbrock(parts, rows[r]), iters, method=method, ftol=0.0,
                  record=lambda t: rec.append(t["total"].clone()), **kw)
    return x, torch.stack(rec)


def test_lbfgs_reaches_the_closed_form_minimum():
    """Stopping at gradient 1e-7 in Rosenbrock's flat valley leaves ~1e-5 in x."""
    x, _ = _solve(torch.arange(5))
    torch.testing.assert_close(x[:, 0], A, atol=1e-4, rtol=0)
    torch.testing.assert_close(x[:, 1], A ** 2, atol=1e-4, rtol=0)


def test_batched_rows_equal_rows_alone_exactly():
    both, rec = _solve(torch.arange(5), iters=40)
    for i in range(5):
        alone, rec1 = _solve(torch.tensor([i]), iters=40)
        assert torch.equal(both[i], alone[0])
        n = min(len(rec), len(rec1))
        assert torch.equal(rec[:n, i], rec1[:n, 0])
        assert torch.all(rec[n:, i] == rec1[-1, 0])          # a row that stopped repeats its last value


def test_one_lbfgs_over_the_summed_energy_couples_the_rows():
    """The premise of row-wise minimisation: torch's L-BFGS on the sum gives a row another path."""
    x = START.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        e = rosenbrock([x], torch.arange(5))["total"].sum()
        e.backward()
        return e

    for _ in range(10):
        opt.step(closure)
    summed = x.detach()
    alone = torch.stack([_solve(torch.tensor([i]), iters=10)[0][0] for i in range(5)])
    assert (summed - alone).abs().max() > 1e-3


def test_every_row_energy_never_rises():
    _, rec = _solve(torch.arange(5), iters=60)
    assert torch.all(rec[1:] <= rec[:-1])


def test_rows_stop_on_their_own():
    """A row at its minimum stops at once; the others go on and still converge."""
    start = START.clone()
    start[2] = torch.stack([A[2], A[2] ** 2])
    x = start.clone()
    rec = []
    minimise_rows([x], rosenbrock, 100, ftol=1e-12, record=lambda t: rec.append(t["total"].clone()))
    rec = torch.stack(rec)
    assert torch.all(rec[:, 2] == 0.0)
    assert torch.equal(x[2], start[2])
    torch.testing.assert_close(x[:, 0], A, atol=1e-4, rtol=0)


def test_a_row_whose_energy_is_undefined_beyond_a_wall_stays_finite():
    """Energy +inf (here NaN from a log) past x = 0.9 in row 0: the search steps back, row 1 is unaffected."""
    def walled(parts, rows):
        (x,) = parts
        f = (x[:, 0] - 2.0) ** 2
        return {"total": torch.where(rows == 0, f - torch.log(0.9 - x[:, 0]), f)}

    x = torch.tensor([[0.0], [0.0]], dtype=torch.float64)
    minimise_rows([x], walled, 50, ftol=0.0)
    assert torch.isfinite(x).all()
    assert x[0, 0] < 0.9
    # row 0's minimum: d/dx (x−2)² − log(0.9−x) = 0 -> 2(x−2)(0.9−x) + 1 = 0, the root below 0.9
    root = ((2.9 - math.sqrt(2.9 ** 2 - 4 * (1.8 - 0.5))) / 2)
    assert abs(float(x[0, 0]) - root) < 1e-4        # stops once g·d > −1e-9 (torch's rule)
    assert abs(float(x[1, 0]) - 2.0) < 1e-4


def test_adam_rows_are_independent_too():
    both, _ = _solve(torch.arange(5), iters=30, method="adam", lr=0.05)
    for i in (0, 3):
        alone, _ = _solve(torch.tensor([i]), iters=30, method="adam", lr=0.05)
        torch.testing.assert_close(both[i], alone[0], atol=1e-12, rtol=0)


def test_cubic_interpolation_is_exact_on_a_cubic():
    # f(t) = t³ − 3t: f' = 3t² − 3, local minimum at t = 1
    f = lambda t: t ** 3 - 3 * t
    df = lambda t: 3 * t ** 2 - 3
    assert _cubic_min(0.0, f(0.0), df(0.0), 2.0, f(2.0), df(2.0), 0.0, 2.0) == pytest.approx(1.0)
    # clamped to the interval, midpoint when the data are not finite
    assert _cubic_min(0.0, f(0.0), df(0.0), 2.0, f(2.0), df(2.0), 1.5, 2.0) == 1.5
    assert _cubic_min(0.0, 0.0, -1.0, 1.0, float("inf"), 0.0, 0.0, 1.0) == 0.5


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        minimise_rows([START.clone()], rosenbrock, 3, method="sgd")
