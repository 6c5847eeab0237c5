"""Export the open model as a chumpy-free ``SMPL_NEUTRAL.pkl`` for code that only takes a path.

smplx 0.1.28's ``SMPL`` class reads SMPL files only as pickles (``smplx.SMPL(model_path=...)``,
``smplx.create(folder, model_type="smpl")``). posekit ships the open model as ``.npz`` (no pickle in
the package); this writes the same arrays as a pickle of plain NumPy arrays, protocol 2, beside the
keypoint vertex ids that smplx needs for this mesh (its built-in ids index SMPL's 6,890 vertices).
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np

from ..utils import atomic_path
from .model import keypoint_ids_path, open_model_path

SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def export_smpl_pickle(dest: str | os.PathLike, full: bool = False) -> Path:
    """Write the open model to ``dest/SMPL_NEUTRAL.pkl`` (+ ``SMPL_NEUTRAL_vertex_ids.json``); return the pkl path.

    Afterwards, with no posekit code::

        ids = json.load(open(dest / "SMPL_NEUTRAL_vertex_ids.json"))
        model = smplx.SMPL(model_path=dest / "SMPL_NEUTRAL.pkl", vertex_ids=ids)
        model = smplx.create(dest.parent, model_type="smpl", vertex_ids=ids)  # when dest is <root>/smpl
    """
    src = open_model_path(full=full)
    dest = Path(dest)
    if dest.suffix:
        raise ValueError(f"dest must be a folder (SMPL_NEUTRAL.pkl is written inside it), got {dest}")
    with np.load(src, allow_pickle=False) as f:
        missing = [k for k in SMPL_KEYS if k not in f.files]
        if missing:
            raise KeyError(f"{src} lacks SMPL keys {missing}")
        arrays = {k: np.ascontiguousarray(f[k]) for k in SMPL_KEYS}
    ids = json.loads(keypoint_ids_path(src).read_text())
    out = dest / "SMPL_NEUTRAL.pkl"
    with atomic_path(out, suffix=".pkl") as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(arrays, fh, protocol=2)
    with atomic_path(dest / "SMPL_NEUTRAL_vertex_ids.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(ids, indent=1) + "\n")
    return out
