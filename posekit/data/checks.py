"""The ``--motions`` check every command line runs before any work: a folder whose motion files can be read."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError

__all__ = ["check_motion_folder"]


def check_motion_folder(folder, option: str = "--motions", readable: bool = True, require_files: bool = False):
    """``folder`` is a folder (of motion files), else :class:`InputError` naming ``option``; returns it.

    ``readable``: when it holds motion files, load them one by one until one loads (usually the first): a
    folder whose files are all unreadable is refused here, before any training or fitting, with the first
    reasons. A folder without any motion file is refused only with ``require_files`` (the data layer says so
    itself before it loads anything). The word ``synthetic`` (``posekit.data.pose_dataset``'s synthetic
    sampler) passes as it is.
    """
    from .dataset import list_motion_files
    from .paths import HOW_TO_GET_DATA

    if isinstance(folder, str) and folder == "synthetic":
        return folder
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{option} {folder}: is a file; expected a folder of motion files (.bvh, .amc+.asf, "
                         "AMASS .npz)")
    if not folder.is_dir():
        raise InputError(f"{option} {folder}: motion folder not found (not a folder). {HOW_TO_GET_DATA}")
    files = list_motion_files(folder)
    if not files and require_files:
        raise InputError(f"{option} {folder}: no motion files (.bvh, .amc+.asf, AMASS .npz) in this folder. "
                         f"{HOW_TO_GET_DATA}")
    if readable and files:
        from .loaders import load_motion

        reasons = []
        for p in files:
            try:
                load_motion(p)
                break
            except Exception as e:  # noqa: BLE001 -- the data layer skips unreadable files the same way
                reasons.append(str(e) or type(e).__name__)
        else:
            first = "; ".join(reasons[:2])
            raise InputError(f"{option} {folder}: none of its {len(files)} motion file(s) could be read "
                             f"(first: {first})")
    return folder
