"""Self-checks for the chapters' exercises: ``check_<name>(student_function) -> CheckResult``.

Each check runs the student's function and the package's reference implementation on random
inputs (shapes, values and, where it matters, gradients). On success it prints one line; on failure
it prints a short hint about *what* is wrong (never the answer). It returns a ``CheckResult``, truthy
when the check passed, which a notebook does not display (the printed line says it all). A check never raises for a wrong or unfinished answer (an exception raised by
the student's code is reported as a hint), so an exercise cell with an unfilled stub still runs.

The checks live in one module per chapter (``ch00`` ... ``ch05``; further chapters add a module
``chNN.py`` here and are picked up automatically: its ``check_*`` functions, registered with
``@exercise("NN")`` and listed in ``__all__``, plus ``CHAPTER = "NN"`` and ``EXERCISES``, the prompt and
stub of each, which ``tools/course_cells.py`` appends to the notebook whose name starts with ``NN_``).
``CHECKS`` maps each chapter to its checks. A chapter module may also list ``INVESTIGATIONS``: experiments
to run and change rather than formulas to write (a prompt with questions and a runnable code cell,
``{"title", "prompt", "code"}``), appended after the exercises.
Layering: this package sits on top of body, fitting and priors (like ``experiments``).
"""
from __future__ import annotations

import importlib
import pkgutil

from ._core import CHECKS, CheckResult, ExerciseFailure, check_result, exercise

__all__ = ["CHECKS", "CheckResult", "EXERCISES", "INVESTIGATIONS", "ExerciseFailure", "check_result", "exercise"]

#: chapter -> [{"check", "function", "prompt", "stub"}] (each chapter module's ``EXERCISES``)
EXERCISES: dict[str, list[dict]] = {}
#: chapter -> [{"title", "prompt", "code"}] (each chapter module's ``INVESTIGATIONS``)
INVESTIGATIONS: dict[str, list[dict]] = {}

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("ch")):
    _m = importlib.import_module(f"{__name__}.{_mod}")
    if hasattr(_m, "EXERCISES"):
        EXERCISES[_m.CHAPTER] = _m.EXERCISES
    if hasattr(_m, "INVESTIGATIONS"):
        INVESTIGATIONS[_m.CHAPTER] = _m.INVESTIGATIONS
    for _name in getattr(_m, "__all__", ()):
        globals()[_name] = getattr(_m, _name)
        __all__.append(_name)
del _mod, _m, _name
