"""Small helpers shared by every chapter: device choice, fast mode, seeds, atomic writes, folders."""
from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = [
    "get_device", "fast_mode", "seed_everything", "atomic_path", "atomic_save_npz",
    "atomic_torch_save", "data_home", "cache_dir", "repo_root",
]


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``device`` when given, else CUDA when present, else the CPU."""
    import torch                    # here, not at the top: a command that fails on its arguments never loads torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def fast_mode() -> bool:
    """True when ``POSEKIT_FAST`` is set to a true value (the test run sets it to 1)."""
    return os.environ.get("POSEKIT_FAST", "0").strip().lower() not in ("", "0", "false", "no")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a torch CPU generator seeded the same way."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    Nothing is half-written: if the body raises, the temporary file is removed and ``path``
    keeps its previous content (or stays absent).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)      # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_save_npz(path: str | os.PathLike, **arrays) -> Path:
    """``np.savez`` written atomically (temp file + rename). Never pickles (object arrays refused)."""
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise TypeError(f"array {k!r} has dtype object; posekit never pickles into .npz files")
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return Path(path)


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` written atomically (temp file + rename)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def repo_root() -> Path:
    """The folder holding the ``posekit`` package (the repository root for a source checkout)."""
    return Path(__file__).resolve().parent.parent


def data_home() -> Path:
    """Where real data and downloads live: ``$POSEKIT_DATA`` or ``~/.cache/posekit/data``."""
    env = os.environ.get("POSEKIT_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "posekit" / "data"


def cache_dir() -> Path:
    """Where trained priors and other reusable results are cached: ``$POSEKIT_CACHE`` or ``~/.cache/posekit``."""
    env = os.environ.get("POSEKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "posekit"
