"""Reading prior files and training checkpoints: the one place where posekit opens them.

Every prior class's ``load`` and every resumable trainer reads its file through this module:

- :func:`read_prior` — a ``.pt`` prior (VPoser, Pose-NDF, HuMoR) read with ``torch.load(weights_only=True)``;
- :func:`read_npz_prior` — an ``.npz`` prior (the GMM) read with ``np.load(allow_pickle=False)``;
- :func:`read_checkpoint` — a resumable training state (``.ckpt``) read with ``torch.load(weights_only=True)``;
- :func:`prior_contents` / :func:`checkpoint_contents` — context managers around building a model from what
  was read (a config that does not fit, weights of the wrong shape).

A file that cannot be used raises :class:`~posekit.errors.InputError` with one line that names the file and
says what was expected: an empty, truncated or random file ("the file is truncated or damaged"), a file of
another prior ("this file is a Pose-NDF prior file; expected a VPoser prior file"), a file holding pickled
Python objects (never unpickled), and a file whose weights hold NaN or infinite values
(:class:`~posekit.errors.NonFiniteError`: refused at load time, before a fit writes NaN). A damaged training
checkpoint says so and that deleting it restarts training from the start.
A missing file raises ``FileNotFoundError`` with the command that trains one.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
import errno
import os
import pickle
import re
import struct
import zipfile
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import torch

from . import registry
from ..errors import InputError, NonFiniteError, check_finite_state

__all__ = ["KINDS", "FileKind", "OTHER_FILES", "plain_state", "recognise", "read_prior", "read_npz_prior", "read_checkpoint", "prior_contents",
           "checkpoint_contents", "train_hint"]

@dataclass(frozen=True)
class FileKind:
    """A kind of file posekit reads that is not a prior's (a prior's kind comes from its registry entry): what it
    is called, the keys of its saved dict, what writes it and the tag it must carry."""

    label: str
    what: str
    file_keys: tuple = ("config", "state_dict")
    class_name: str = ""
    file_tag: tuple | None = None
    tag_required: bool = True
    checkpoint_keys: tuple = ()
    file_format: str = "pt"


#: the files of trained models that are not priors
OTHER_FILES = {
    "regressor": FileKind("regressor", "keypoint regressor file", class_name="KeypointRegressor",
                          file_tag=("format", "posekit.regressor/")),
}


def _all_kinds() -> dict:
    """{kind: registry entry or FileKind} of every file kind read here (priors first)."""
    return {**registry.kinds(), **OTHER_FILES}


class _Kinds(Mapping):
    """What each kind of file is called in messages, from the registry (``posekit.priors.registry``): a prior's
    file ("VPoser prior file") and its trainer's checkpoint ("VPoser training checkpoint"). Live: a prior
    registered at run time is known at once."""

    def _table(self) -> dict:
        out = {}
        for name, e in _all_kinds().items():
            out[name] = getattr(e, "what", None) or f"{e.label} prior file"
        for name, e in _all_kinds().items():
            if e.checkpoint_keys:
                out[f"{name}-checkpoint"] = f"{e.label} training checkpoint"
        return out

    def __getitem__(self, kind):
        return self._table()[kind]

    def __iter__(self):
        return iter(self._table())

    def __len__(self):
        return len(self._table())


#: kind -> what it is called in messages (a live view of the registry)
KINDS = _Kinds()


def _entry(kind: str):
    return _all_kinds()[kind.removesuffix("-checkpoint")]


def _short(kind: str) -> str:
    """"Pose-NDF" ("not a Pose-NDF file")."""
    return _entry(kind).label


def _keys(kind: str) -> tuple:
    """The keys of a kind's saved dict (as written by its ``save`` / its trainer's checkpoint)."""
    e = _entry(kind)
    return e.checkpoint_keys if kind.endswith("-checkpoint") else e.file_keys


def _saver(kind: str) -> str:
    """What writes a kind of prior file ("VPoser.save")."""
    return f"{_entry(kind).class_name}.save"


def _arrays() -> dict:
    """{kind: arrays} of the ``.npz`` priors."""
    return {n: e.file_keys for n, e in _all_kinds().items() if e.file_format == "npz"}


def _tag_text(kind: str) -> str | None:
    """The tag a kind's file must carry, in words (e.g. "kind='...'"), None when it needs none."""
    e = _entry(kind)
    if not (e.file_tag and e.tag_required):
        return None
    field, value = e.file_tag
    return f"{field}={value!r}" if field == "kind" else f"{field} '{value}...'"


#: errors torch.load / np.load raise on a file that is not what it should be (OSErrors such as a missing
#: file or a permission problem pass through, they already name the file; torch's zip reader gives EINVAL
#: for some truncated files, see ``_load_torch``)
_READ_ERRORS = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError, ValueError,
                IndexError, TypeError, AttributeError, struct.error, OverflowError, UnicodeDecodeError)
#: errors building a model from what was read raises when the contents do not fit
_CONTENT_ERRORS = (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError)

_ZIP_MAGIC = b"PK\x03\x04"


class _Unreadable(Exception):
    """Internal: why a file could not be read (a phrase); the public functions add the file and the kind."""


def plain_state(obj):
    """Plain types only (dict/list/float/int/str/bool/None; a one-element tensor as its number), so that a saved
    history or meta dict loads with ``torch.load(weights_only=True)``."""
    if isinstance(obj, dict):
        return {str(k): plain_state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_state(v) for v in obj]
    if torch.is_tensor(obj):
        return obj.item() if obj.numel() == 1 else obj.tolist()
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    return float(obj)


def train_hint(name: str, path) -> str:
    """The command that writes a new prior file ``name`` to ``path``."""
    return f"train a new one with: python -m posekit.train {name} --motions DIR --out {path}"


def _one_line(e: BaseException, limit: int = 240) -> str:
    if isinstance(e, KeyError) and e.args:
        text = f"missing {e.args[0]!r}"
    else:
        text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def recognise(obj) -> str | None:
    """The kind (a key of :data:`KINDS`) of what a ``.pt`` / ``.ckpt`` file held, or None when unknown."""
    if not isinstance(obj, Mapping):
        return None
    fmt = obj.get("format")
    for name, e in _all_kinds().items():
        if e.file_tag is None:
            continue
        field, value = e.file_tag
        if field == "format" and isinstance(fmt, str) and fmt.startswith(value):
            return name
        if field != "format" and obj.get(field) == value:
            return name
    for name, e in _all_kinds().items():
        if e.checkpoint_keys and set(e.checkpoint_keys) <= set(obj):
            return f"{name}-checkpoint"
    return None


def _check_exists(path: Path, what: str, hint: str = "") -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; expected a {what}" + (f"; {hint}" if hint else ""))
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a {what}")


def _zip_names(path: Path) -> list[str] | None:
    """The member names when ``path`` is a readable zip archive, else None."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def _npz_kind(names: list[str]) -> str | None:
    arrays = {n[:-4] for n in names if n.endswith(".npy")}
    if names and len(arrays) == len(names):
        for kind, need in _arrays().items():
            if set(need) <= arrays:
                return kind
        return "npz"
    return None


def _is_torch_zip(names: list[str]) -> bool:
    return any(n.endswith("/data.pkl") for n in names)


def _damage(path: Path, fmt: str) -> _Unreadable:
    """The reason for a file that did not read as ``fmt`` ("a PyTorch", "an .npz")."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == _ZIP_MAGIC and _zip_names(path) is None:
        return _Unreadable("the file is truncated or damaged, its zip archive is incomplete")
    if head == _ZIP_MAGIC:
        return _Unreadable("the file is truncated or damaged, a member of its zip archive does not read")
    return _Unreadable(f"the file is damaged or not {fmt} file")


def _load_torch(path: Path):
    """``torch.load(weights_only=True)`` of a file, with every way it can be unreadable as :class:`_Unreadable`."""
    if path.stat().st_size == 0:
        raise _Unreadable("the file is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        if e.errno not in (None, errno.EINVAL):   # a missing file, no permission, a disk error: as they are
            raise
        raise _damage(path, "a PyTorch") from None  # the zip reader seeking past the end of a truncated file
    except pickle.UnpicklingError as e:
        m = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if m:
            raise _Unreadable(f"it holds a pickled Python object, {m.group(1)}, which posekit does not unpickle: "
                              "torch.load with weights_only=True reads tensors and plain values only") from None
        raise _damage(path, "a PyTorch") from None
    except _READ_ERRORS:
        names = _zip_names(path)
        kind = _npz_kind(names) if names else None
        if kind in KINDS:
            raise _Unreadable(f"this file is a {KINDS[kind]} (.npz)") from None
        if kind == "npz":
            raise _Unreadable("this file is an .npz array file, not a PyTorch file") from None
        raise _damage(path, "a PyTorch") from None


def _load_npz(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``names`` of an ``.npz`` (``allow_pickle=False``), with every failure as :class:`_Unreadable`."""
    if path.stat().st_size == 0:
        raise _Unreadable("the file is empty")
    zip_names = _zip_names(path)
    if zip_names is not None and _is_torch_zip(zip_names):
        try:
            kind = recognise(torch.load(path, map_location="cpu", weights_only=True))
        except _READ_ERRORS:
            kind = None
        raise _Unreadable(f"this file is a {KINDS[kind]}" if kind else "this file is a PyTorch file, not an .npz")
    try:
        z = np.load(path, allow_pickle=False)
    except _READ_ERRORS:
        raise _damage(path, "an .npz") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise _Unreadable("this file is a single .npy array, not an .npz archive")
    with z:
        missing = [n for n in names if n not in z.files]
        if missing:
            raise _Unreadable(f"missing arrays {missing} (it has {sorted(z.files)})")
        try:
            return {n: np.asarray(z[n]) for n in names}
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise _Unreadable("it holds object arrays, which posekit does not unpickle") from None
            raise _damage(path, "an .npz") from None
        except _READ_ERRORS:
            raise _damage(path, "an .npz") from None


def read_prior(path: str | os.PathLike, kind: str) -> dict:
    """The dict saved in a ``.pt`` prior file of ``kind`` (a registered prior's name), checked.

    ``torch.load(weights_only=True)``; the file must be of that kind (not another prior's file or a training
    checkpoint), hold ``config`` and a ``state_dict`` of tensors, all of them finite. Raises InputError
    (NonFiniteError for NaN/inf weights) naming the file, FileNotFoundError when it is missing.
    """
    path = Path(path)
    label, short = KINDS[kind], _short(kind)
    _check_exists(path, label, train_hint(kind, path))
    try:
        obj = _load_torch(path)
    except _Unreadable as e:
        hint = f"; {train_hint(kind, path)}" if "damaged" in str(e) or "empty" in str(e) else ""
        raise InputError(f"{path}: {e}; expected a {label}{hint}") from None
    found = recognise(obj)
    if found is not None and found != kind:
        raise InputError(f"{path}: this file is a {KINDS[found]}; expected a {label}")
    if not isinstance(obj, Mapping):
        raise InputError(f"{path}: not a {short} file (it holds a {type(obj).__name__}; expected a dict with "
                         f"{' and '.join(_keys(kind))})")
    missing = [k for k in _keys(kind) if k not in obj]
    tag = _tag_text(kind)
    if missing or (tag and found != kind):
        need = ", ".join(([tag] if tag else []) + list(_keys(kind)))
        raise InputError(f"{path}: not a {short} file (expected a dict with {need}; found keys {sorted(map(str, obj))})")
    if not isinstance(obj["state_dict"], Mapping):
        raise InputError(f"{path}: not a {short} file (its state_dict is a {type(obj['state_dict']).__name__}; "
                         "expected a dict of tensors)")
    check_finite_state(obj["state_dict"], f"the {label} {path}")
    return dict(obj)


def read_npz_prior(path: str | os.PathLike, kind: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` prior file (the GMM: means, covariances, weights), read without pickle.

    Checks that the file reads and has the arrays, and that floating arrays are finite; the kind's own
    constraints (shapes, a positive definite covariance) are checked by its class.
    """
    path = Path(path)
    label, short = KINDS[kind], _short(kind)
    _check_exists(path, label, train_hint(kind, path))
    try:
        arrays = _load_npz(path, _entry(kind).file_keys)
    except _Unreadable as e:
        text = str(e)
        if text.startswith("missing"):
            raise InputError(f"{path}: not a {short} file, {text}; expected {', '.join(_entry(kind).file_keys)}") from None
        hint = f"; {train_hint(kind, path)}" if "damaged" in text or "empty" in text else ""
        raise InputError(f"{path}: {text}; expected a {label}{hint}") from None
    check_finite_state(arrays, f"the {label} {path}")
    return arrays


def read_checkpoint(path: str | os.PathLike, kind: str) -> dict:
    """The resumable training state saved in ``path`` by the trainer of ``kind``
    (``"<prior>-checkpoint"``), checked: every key present, every tensor finite.

    A file that does not read, holds something else or holds NaN raises InputError (NonFiniteError for
    NaN/inf) saying that the checkpoint is damaged and that deleting it restarts training from the start.
    """
    path = Path(path)
    _check_exists(path, KINDS[kind])
    try:
        try:
            obj = _load_torch(path)
        except _Unreadable as e:
            raise _Unreadable(str(e).replace("this file is a", "it is a")) from None
        found = recognise(obj)
        if found is not None and found != kind:
            raise _Unreadable(f"it is a {KINDS[found]}, not a {KINDS[kind]}")
        if not isinstance(obj, Mapping):
            raise _Unreadable(f"it holds a {type(obj).__name__}, not a dict")
        missing = [k for k in _keys(kind) if k not in obj]
        if missing:
            raise _Unreadable(f"missing {', '.join(missing)}")
        try:
            check_finite_state(obj, "")
        except NonFiniteError as e:
            raise NonFiniteError(_checkpoint_message(path, kind, str(e).split("; expected")[0])) from None
    except _Unreadable as e:
        raise InputError(_checkpoint_message(path, kind, str(e))) from None
    return dict(obj)


def _checkpoint_message(path: Path, kind: str, reason: str) -> str:
    return (f"{path}: the {KINDS[kind]} is damaged ({reason}); delete it to restart training from the start")


@contextlib.contextmanager
def prior_contents(path: str | os.PathLike, kind: str) -> Iterator[None]:
    """Around building a prior from :func:`read_prior`'s dict: a config or weights that do not fit
    (a missing key, a wrong shape) become one InputError naming the file."""
    try:
        yield
    except InputError:
        raise
    except _CONTENT_ERRORS as e:
        raise InputError(f"{Path(path)}: not a valid {KINDS[kind]} ({_one_line(e)}); expected a file written by "
                         f"{_saver(kind)}") from None


@contextlib.contextmanager
def checkpoint_contents(path: str | os.PathLike, kind: str) -> Iterator[None]:
    """Around restoring a model, optimiser and counters from :func:`read_checkpoint`'s dict: what does not
    fit becomes the "damaged checkpoint, delete it" InputError."""
    try:
        yield
    except InputError:
        raise
    except _CONTENT_ERRORS as e:
        raise InputError(_checkpoint_message(Path(path), kind, _one_line(e))) from None
