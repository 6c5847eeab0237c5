"""The runner shared by every exercise check."""
from __future__ import annotations

import functools
import traceback
from collections import defaultdict
from typing import Callable

import torch

#: chapter ("00", "01", ...) -> {check name: check function}
CHECKS: dict[str, dict[str, Callable]] = defaultdict(dict)


class ExerciseFailure(Exception):
    """Raised inside a check with the hint a student sees."""


def check_result(ok: bool, hint: str) -> None:
    """Fail the running check with ``hint`` unless ``ok``."""
    if not bool(ok):
        raise ExerciseFailure(hint)


def close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.to(b.dtype), b, atol=atol, rtol=rtol))


def call(fn: Callable, *args, **kwargs) -> torch.Tensor:
    """The student's output as a tensor (NotImplementedError and friends become hints)."""
    out = fn(*args, **kwargs)
    check_result(out is not None, "your function returns None: did you forget `return`?")
    if not torch.is_tensor(out):
        try:
            out = torch.as_tensor(out, dtype=torch.float64)
        except Exception:
            raise ExerciseFailure(f"your function should return a torch tensor, got {type(out).__name__}")
    return out


def expect_shape(out: torch.Tensor, shape: tuple, what: str) -> None:
    check_result(tuple(out.shape) == tuple(shape),
                 f"{what}: expected shape {tuple(shape)}, got {tuple(out.shape)}")


def expect_grad(fn: Callable, x: torch.Tensor, *rest) -> None:
    """The output must be differentiable with respect to ``x`` (no numpy, no .detach())."""
    x = x.detach().clone().requires_grad_(True)
    out = fn(x, *rest)
    ok = torch.is_tensor(out) and out.requires_grad
    check_result(ok, "your result carries no gradient: keep every step in torch (no numpy, .item() or .detach())")
    (g,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    check_result(g is not None and bool(torch.isfinite(g).all()),
                 "the gradient of your result is missing or not finite")


class CheckResult:
    """The outcome of one check: truthy when it passed, with the line that was printed.

    The line is printed when the check runs, so in a notebook the result itself shows nothing (no stray
    ``True``/``False`` under an exercise cell); in a plain Python prompt it shows as ``CheckResult(passed=...)``.
    """

    __slots__ = ("passed", "message")

    def __init__(self, passed: bool, message: str):
        self.passed = bool(passed)
        self.message = message

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed})"

    def _ipython_display_(self) -> None:
        """IPython/Jupyter: the message is already printed, display nothing more."""


def _report(passed: bool, message: str) -> CheckResult:
    print(message)
    return CheckResult(passed, message)


def exercise(chapter: str):
    """Register a check for ``chapter`` and wrap it: print the outcome, return a :class:`CheckResult`."""
    def deco(body: Callable[[Callable], None]):
        name = body.__name__

        @functools.wraps(body)
        def check(student_function: Callable) -> CheckResult:
            if not callable(student_function):
                return _report(False, f"✗ {name}: pass your function itself (without calling it)")
            gen_state = torch.random.get_rng_state()
            torch.manual_seed(0)
            try:
                body(student_function)
            except ExerciseFailure as e:
                return _report(False, f"✗ {name}: {e}")
            except NotImplementedError:
                return _report(False, f"✗ {name}: not implemented yet: fill in the function and run this cell again")
            except Exception as e:                    # the student's code raised: show where
                where = traceback.extract_tb(e.__traceback__)[-1]
                return _report(False, f"✗ {name}: your function raised {type(e).__name__}: {e} (line {where.lineno})")
            finally:
                torch.random.set_rng_state(gen_state)
            return _report(True, f"✓ {name}: passed")

        CHECKS[chapter][name] = check
        return check
    return deco
