"""posekit's user-facing errors: one line that names the file or option and says what was expected.

Every command line (``python -m posekit.train|experiments|fit|data``) runs through :func:`run_cli`, which
prints an :class:`InputError` (or an OS error such as a full disk) as ``error: ...`` on stderr and exits
with status 2; anything else is a bug and keeps its traceback.

Checks shared by the layers:

- :func:`check_finite` — a tensor or array about to be written, returned or used as a parameter holds
  only finite numbers; otherwise :class:`NonFiniteError` says which one and how many entries.
- :func:`check_finite_state` — every floating tensor of a loaded ``state_dict`` is finite (a prior file
  with NaN weights is refused when it is loaded, not after a fit has written NaN).
- :func:`check_output_file` / :func:`check_output_dir` — an output path is usable *before* any work runs.
"""
from __future__ import annotations

import errno
import math
import os
import sys
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

__all__ = [
    "InputError", "NonFiniteError", "check_finite", "check_finite_state", "check_output_file",
    "check_output_dir", "check_positive", "check_finite_number", "check_device", "check_choices", "run_cli",
]


class InputError(ValueError):
    """Bad input (a file, an argument, an array): the message names it and says what was expected."""


class NonFiniteError(InputError):
    """A tensor or array held NaN or infinite values where only finite numbers make sense."""


def _is_tensor(value) -> bool:
    """A torch tensor? (torch is not imported for this: a value can only be a tensor once torch is loaded, so
    commands that fail on a bad argument answer without paying for torch's import.)"""
    torch = sys.modules.get("torch")
    return torch is not None and torch.is_tensor(value)


def _as_numpy(value) -> np.ndarray:
    if _is_tensor(value):
        return value.detach().cpu().double().numpy() if value.is_floating_point() else value.detach().cpu().numpy()
    return np.asarray(value)


def check_finite(name: str, value, where: str = ""):
    """Return ``value`` unchanged if every entry is finite, else raise :class:`NonFiniteError`.

    ``name`` says what the value is ("body_pose of the fit", "--sigmas"); ``where`` is appended (a file).
    Non-numeric values (ints, bools) are always finite.
    """
    arr = _as_numpy(value)
    if arr.dtype.kind not in "fc":
        return value
    bad = ~np.isfinite(arr)
    if bad.any():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(bad.sum()) - n_nan
        what = ", ".join(s for s in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} infinite" if n_inf else "") if s)
        loc = f" in {where}" if where else ""
        raise NonFiniteError(f"{name}{loc} has {what} of {arr.size} values; expected finite numbers")
    return value


def check_finite_state(state: Mapping[str, object], where: str) -> Mapping[str, object]:
    """Every floating tensor or array of a ``state_dict`` (nested dicts included) is finite, else NonFiniteError."""
    def walk(obj, prefix):
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        elif _is_tensor(obj) or isinstance(obj, np.ndarray):
            check_finite(f"parameter {prefix!r}", obj, where)
    walk(state, "")
    return state


def check_finite_number(option: str, value: float) -> float:
    """A finite float, else InputError naming the option."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{option} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{option} must be a finite number, got {value!r}")
    return v


def check_positive(option: str, value, integer: bool = False, allow_zero: bool = False):
    """A finite number > 0 (or ≥ 0 with ``allow_zero``), an int when ``integer``; else InputError."""
    v = check_finite_number(option, value)
    if integer and v != int(v):
        raise InputError(f"{option} must be a whole number, got {value!r}")
    if v < 0 or (v == 0 and not allow_zero):
        raise InputError(f"{option} must be {'≥ 0' if allow_zero else '> 0'}, got {value!r}")
    return int(v) if integer else v


def check_choices(option: str, text, allowed, what: str = "", unknown: str = "unknown") -> list[str]:
    """A comma list (or a list) of names, each in ``allowed`` -> those names, once each, in the given order;
    an empty list or an unknown name is an InputError naming ``option`` (``what`` names the kind of thing)."""
    names = [str(m).strip() for m in (text.split(",") if isinstance(text, str) else (text or ()))]
    names = [m for m in names if m]
    listing = f"a comma list of {what + ' ' if what else ''}{','.join(allowed)}"
    if not names:
        raise InputError(f"{option}: expected {listing}, got {text!r}")
    bad = [m for m in names if m not in allowed]
    if bad:
        raise InputError(f"{option}: {unknown} {bad}; expected {listing}")
    return list(dict.fromkeys(names))


def _nearest_existing_parent(path: Path) -> Path:
    p = path.parent
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_file(path, option: str = "--out", overwrite: bool = True) -> Path:
    """An output *file* path that can be written: not a folder, not under a file, its folder writable.

    ``overwrite=False`` also refuses an existing file (say so rather than silently replacing a result).
    Creates nothing; call before the work whose result goes there.
    """
    path = Path(path).expanduser()
    if str(path) in ("", "."):
        raise InputError(f"{option}: expected a file path, got {str(path)!r}")
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; expected a file path")
    if path.exists() and not overwrite:
        raise InputError(f"{option} {path}: the file exists; remove it or choose another path")
    parent = _nearest_existing_parent(path)
    if not parent.is_dir():
        raise InputError(f"{option} {path}: {parent} is a file, so nothing can be written under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: the folder {parent} is not writable")
    return path


def check_output_dir(path, option: str = "--out") -> Path:
    """An output *folder* path that exists as a folder or can be created; creates nothing."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: is a file; expected a folder")
    parent = path if path.is_dir() else _nearest_existing_parent(path)
    if not parent.is_dir():
        raise InputError(f"{option} {path}: {parent} is a file, so no folder can be made under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: the folder {parent} is not writable")
    return path


def check_device(text, option: str = "--device") -> str | None:
    """``None`` (the default device), ``cpu``, ``cuda``/``cuda:N`` when that GPU is present, ``mps`` when present;
    else :class:`InputError`. Returns ``text`` unchanged."""
    if text is None:
        return None
    import torch

    try:
        dev = torch.device(str(text))
    except (RuntimeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"{option} {text!r}: expected cpu, cuda, cuda:N or mps")
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise InputError(f"{option} {text}: no CUDA GPU is available on this machine (torch "
                             f"{torch.__version__}); use --device cpu or leave --device out")
        if dev.index is not None and dev.index >= n:
            raise InputError(f"{option} {text}: this machine has {n} CUDA GPU(s), cuda:0 to cuda:{n - 1}")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"{option} {text}: Apple's MPS backend is not available here; use --device cpu")
    return text


def _os_message(e: OSError) -> str:
    name = f" {e.filename}" if getattr(e, "filename", None) else ""
    if e.errno == errno.ENOSPC:
        return f"no space left on the device while writing{name}; free some space and run again"
    return f"{e.strerror or e}{':' if name else ''}{name}"


def run_cli(main: Callable[[], int | None], user_errors: tuple = ()) -> int:
    """Run a command line's body: user errors become one line on stderr and exit status 2.

    ``user_errors`` adds exception types (beside InputError and OSError) that mean bad input.
    KeyboardInterrupt exits 130 without a traceback.
    """
    try:
        return int(main() or 0)
    except (InputError, *user_errors) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {_os_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
