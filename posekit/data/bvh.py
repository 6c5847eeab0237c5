"""BVH (Biovision hierarchy) reading: any per-joint channel order, end sites, extra root joints.

Conventions: a joint's OFFSET is its rest position relative to its parent, in the parent's frame;
``CHANNELS ... Zrotation Yrotation Xrotation`` means the local rotation R = Rz · Ry · Rx (intrinsic,
in the listed order); the root's position = OFFSET + position channels. End sites become joints
named ``<parent>_End`` without channels (so a rig may map SMPL's foot to an ankle's end site).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import warnings

from .motion import Motion, MotionFormatError, cmu_ids, drop_nonfinite_frames
from ..skeleton import SMPL_JOINT_NAMES
from .retarget import UNIT_SCALES, SourceMotion, retarget
from .rigs import detect_rig

__all__ = ["parse_bvh", "retarget_bvh", "load_bvh_motion", "write_bvh", "euler_matrices"]

_ROT = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}
_POS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}


def _axis_matrices(axis: str, rad: np.ndarray) -> np.ndarray:
    """Elementary rotations about x, y or z: angles (N,) radians -> (N, 3, 3)."""
    c, s = np.cos(rad), np.sin(rad)
    o, z = np.ones_like(rad), np.zeros_like(rad)
    if axis == "X":
        m = [o, z, z, z, c, -s, z, s, c]
    elif axis == "Y":
        m = [c, z, s, z, o, z, -s, z, c]
    else:
        m = [c, -s, z, s, c, z, z, z, o]
    return np.stack(m, axis=-1).reshape(-1, 3, 3)


def euler_matrices(order: str, deg: np.ndarray) -> np.ndarray:
    """Intrinsic Euler angles (BVH channels), degrees (N, k) in ``order`` (e.g. "ZYX") ->
    R = R_order[0] · R_order[1] · ... (N, 3, 3) (= scipy's ``from_euler(order.upper(), ...)``)."""
    rad = np.radians(deg)
    R = _axis_matrices(order[0], rad[:, 0])
    for k in range(1, len(order)):
        R = R @ _axis_matrices(order[k], rad[:, k])
    return R


def _parse_numbers(text: str) -> np.ndarray | None:
    """Whitespace-separated numbers -> (N,) float64, or None when a token is not a number.

    ``np.fromstring`` is fast, but on a token that is not a number it stops early (numpy 1), warns or
    raises (numpy 2): every outcome but a clean parse gives None, and the caller finds the bad line.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return np.fromstring(text, dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None


def _first_non_number(tokens: list[str]) -> str | None:
    """The first token ``np.fromstring`` would not read as a number (``float`` rules: nan, inf, 1e-3), else None."""
    for t in tokens:
        try:
            float(t)
        except ValueError:
            return t
        if "_" in t:  # float() reads 1_000, the C parser does not
            return t
    return None


def _parse_hierarchy(lines: list[str], path: Path):
    """-> names, parents, offsets, channels (per joint list of channel names), index of the MOTION line."""
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    pending = None  # (name, is_end) waiting for '{'
    i = 0
    n = len(lines)
    while i < n:
        raw = lines[i]
        tok = raw.split()
        lineno = i + 1
        i += 1
        if not tok:
            continue
        key = tok[0]
        if key == "HIERARCHY":
            continue
        if key in ("ROOT", "JOINT"):
            if len(tok) < 2:
                raise MotionFormatError(f"{path}: line {lineno}: {key} without a joint name")
            if key == "JOINT" and not stack:
                raise MotionFormatError(f"{path}: line {lineno}: JOINT {tok[1]} outside any ROOT")
            pending = (" ".join(tok[1:]), False)
        elif key == "End":
            if not stack:
                raise MotionFormatError(f"{path}: line {lineno}: End Site outside any joint")
            pending = (f"{names[stack[-1]]}_End", True)
        elif key == "{":
            if pending is None:
                raise MotionFormatError(f"{path}: line {lineno}: '{{' without a ROOT/JOINT/End Site before it")
            names.append(pending[0])
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append([])
            stack.append(len(names) - 1)
            pending = None
        elif key == "}":
            if not stack:
                raise MotionFormatError(f"{path}: line {lineno}: unmatched '}}'")
            j = stack.pop()
            if offsets[j] is None:
                raise MotionFormatError(f"{path}: line {lineno}: joint {names[j]!r} has no OFFSET")
        elif key == "OFFSET":
            if not stack or len(tok) != 4:
                raise MotionFormatError(f"{path}: line {lineno}: expected 'OFFSET x y z', got {raw.strip()!r}")
            try:
                offsets[stack[-1]] = np.array([float(t) for t in tok[1:]])
            except ValueError:
                raise MotionFormatError(f"{path}: line {lineno}: OFFSET values are not numbers: {raw.strip()!r}") from None
        elif key == "CHANNELS":
            if not stack:
                raise MotionFormatError(f"{path}: line {lineno}: CHANNELS outside a joint")
            try:
                k = int(tok[1])
            except (IndexError, ValueError):
                raise MotionFormatError(f"{path}: line {lineno}: expected 'CHANNELS n name...', got {raw.strip()!r}") from None
            chans = tok[2:]
            if len(chans) != k:
                raise MotionFormatError(
                    f"{path}: line {lineno}: CHANNELS declares {k} channels but lists {len(chans)}: {raw.strip()!r}")
            bad = [c for c in chans if c not in _ROT and c not in _POS]
            if bad:
                raise MotionFormatError(f"{path}: line {lineno}: unknown channel(s) {bad} "
                                        f"(expected X/Y/Z rotation/position)")
            channels[stack[-1]] = chans
        elif key == "MOTION":
            if stack or pending is not None:
                raise MotionFormatError(f"{path}: line {lineno}: MOTION before the hierarchy is closed "
                                        f"(unclosed joint {names[stack[-1]]!r})" if stack else
                                        f"{path}: line {lineno}: MOTION right after a joint name")
            return names, parents, offsets, channels, i
        else:
            raise MotionFormatError(f"{path}: line {lineno}: unexpected token {key!r} in the HIERARCHY")
    if stack:
        raise MotionFormatError(f"{path}: truncated file: the hierarchy ends at line {n} inside joint "
                                f"{names[stack[-1]]!r} (no closing '}}' / no MOTION section)")
    raise MotionFormatError(f"{path}: no MOTION section (line {n} is the end of the file)")


def _parse_motion_header(lines: list[str], start: int, path: Path) -> tuple[int, float, int]:
    """'Frames: N' and 'Frame Time: dt' after MOTION -> (N, dt, first data line index)."""
    i, frames, dt = start, None, None
    frames_line = dt_line = dt_text = None
    while i < len(lines) and (frames is None or dt is None):
        s = lines[i].strip()
        i += 1
        if not s:
            continue
        if s.startswith("Frames:"):
            frames_line = i
            try:
                frames = int(s.split(":", 1)[1])
            except ValueError:
                raise MotionFormatError(f"{path}: line {i}: expected 'Frames: N', got {s!r}") from None
        elif s.startswith("Frame Time:"):
            dt_line, dt_text = i, s.split(":", 1)[1].strip()
            try:
                dt = float(dt_text)
            except ValueError:
                raise MotionFormatError(f"{path}: line {i}: expected 'Frame Time: seconds', got {s!r}") from None
        else:
            raise MotionFormatError(f"{path}: line {i}: expected 'Frames:' / 'Frame Time:', got {s!r}")
    if frames is None or dt is None:
        raise MotionFormatError(f"{path}: truncated file: MOTION section without 'Frames:' and 'Frame Time:'")
    if frames <= 0:
        raise MotionFormatError(f"{path}: line {frames_line}: 'Frames: {frames}': expected at least one frame")
    if not np.isfinite(dt) or dt <= 0 or not np.isfinite(1.0 / dt):
        raise MotionFormatError(f"{path}: line {dt_line}: 'Frame Time: {dt_text}' is not a frame time; expected a "
                                "positive, finite number of seconds per frame (e.g. 0.0083333 for 120 fps)")
    return frames, dt, i


def parse_bvh(path: str | Path) -> SourceMotion:
    """Read a BVH file into a ``SourceMotion`` (source units and axes; rotations as matrices).

    Raises ``MotionFormatError`` naming the file and line for a malformed or truncated file
    (hierarchy errors, a frame with the wrong number of values, fewer frames than declared).
    Frames holding NaN are dropped with a warning naming them.
    """
    path = Path(path)
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "HIERARCHY":
        raise MotionFormatError(f"{path}: line 1: expected 'HIERARCHY' (not a BVH file?)")
    names, parents, offsets, channels, i = _parse_hierarchy(lines, path)
    n_frames, dt, i = _parse_motion_header(lines, i, path)
    n_ch = sum(len(c) for c in channels)
    data_lines = [(k, l) for k, l in enumerate(lines[i:], start=i + 1) if l.strip()]
    if len(data_lines) < n_frames:
        last = data_lines[-1][0] if data_lines else i
        raise MotionFormatError(f"{path}: truncated file: 'Frames: {n_frames}' but only {len(data_lines)} frame "
                                f"lines (the last at line {last})")
    data_lines = data_lines[:n_frames]
    counts = np.fromiter((len(l.split()) for _, l in data_lines), dtype=np.int64, count=len(data_lines))
    if np.any(counts != n_ch):
        k = int(np.flatnonzero(counts != n_ch)[0])
        raise MotionFormatError(f"{path}: line {data_lines[k][0]}: frame {k} has {counts[k]} values, expected "
                                f"{n_ch} (the sum of the hierarchy's CHANNELS)")
    data = _parse_numbers(" ".join(l for _, l in data_lines))                 # (T·C,) or None
    if data is None or data.size != n_frames * n_ch:  # a token that is not a number
        for k, (ln, l) in enumerate(data_lines):
            bad = _first_non_number(l.split())
            if bad is not None:
                raise MotionFormatError(f"{path}: line {ln}: frame {k} holds {bad!r}, which is not a number; "
                                        f"expected {n_ch} numbers per frame line")
        raise MotionFormatError(f"{path}: could not read the frame values as numbers; expected {n_ch} numbers "
                                "per frame line")
    data = data.reshape(n_frames, n_ch)                                       # (T, C)
    data, dropped = drop_nonfinite_frames(data, path)
    T, J = data.shape[0], len(names)
    local = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
    root_pos = np.zeros((T, 3))
    col = 0
    groups: dict[str, list] = {}  # euler order -> [(joint, columns)]
    for j, chans in enumerate(channels):
        rot_cols, order = [], ""
        for c in chans:
            if c in _POS:
                if j != 0:  # only the root's translation drives the motion; others keep their OFFSET
                    pass
                else:
                    root_pos[:, _POS[c]] = data[:, col]
            else:
                rot_cols.append(col)
                order += _ROT[c]
            col += 1
        if order:
            groups.setdefault(order, []).append((j, rot_cols))
    for order, items in groups.items():                                       # one scipy call per order
        js = [j for j, _ in items]
        ang = np.stack([data[:, cols] for _, cols in items], axis=1)          # (T, n, k) degrees
        R = euler_matrices(order, ang.reshape(-1, len(order)))
        local[:, js] = R.reshape(T, len(js), 3, 3)
    offs = np.stack(offsets)                                                   # (J, 3)
    root_pos = root_pos + offs[0]
    meta = {"source": str(path), "format": "bvh", "frames_in_file": n_frames, "dropped_nan_frames": dropped}
    fps = 1.0 / dt
    if abs(fps - round(fps)) < 1e-4 * fps:  # 'Frame Time: .0083333' is 120 fps written with 5 digits
        fps = float(round(fps))
    return SourceMotion(names, np.array(parents), offs, local, root_pos, fps, {}, meta)


def _rotation_angle_deg(R: np.ndarray) -> np.ndarray:
    """Angle of rotation matrices (..., 3, 3) in degrees: arccos((tr R − 1) / 2)."""
    tr = np.trace(R, axis1=-2, axis2=-1)
    return np.degrees(np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0)))


def is_reference_frame(src: SourceMotion, tol_deg: float = 1e-4, min_jump_deg: float = 1.0) -> bool:
    """True when frame 0 is a stored reference pose rather than motion: its root rotation is exactly the
    identity (within ``tol_deg``) while frame 1's is not (more than ``min_jump_deg`` away).

    Second Life's unscaled conversion starts with such a frame (root channels 0 0 0, the limbs near rest,
    fingers at their static bend), then the motion begins with the recorded root orientation.
    src.local_rot: (T, J, 3, 3), joint 0 the root.
    """
    if src.num_frames < 2:
        return False
    a0, a1 = _rotation_angle_deg(src.local_rot[:2, 0])                         # (2,)
    return bool(a0 < tol_deg and a1 > min_jump_deg)


def retarget_bvh(path: str | Path, rig: str | None = None, rest_joints=None, drop_first_frame: bool | None = None,
                 exact_directions: bool = True, unit_scale: float | None = None, up_axis: str | None = None,
                 frame_step: int = 1):
    """Parse and retarget a BVH file. Returns (source motion, rig, RetargetResult, meta); the first frame
    is dropped from the source (before retargeting) when the rig prepends a reference frame."""
    path = Path(path)
    src = parse_bvh(path)
    r, mapping = detect_rig(src.names, path, rig)
    rest = {"zero": None, "frame0": 0, "convention": "convention"}[r.rest]
    if drop_first_frame is None:
        cond = r.extra.get("drop_first_frame_if")
        drop_first_frame = (r.drop_first_frame or (cond is not None and cond in src.names)
                            or (r.extra.get("drop_reference_frame0", False) and is_reference_frame(src)))
    if unit_scale is None and r.units is not None:
        unit_scale = UNIT_SCALES[r.units]
    if rest == 0:  # the reference frame is needed by the alignment: retarget, then drop
        res = retarget(src, mapping, rest=rest, rest_joints=rest_joints, unit_scale=unit_scale,
                       up_axis=up_axis or r.up, exact_directions=exact_directions)
        keep = slice(1 if drop_first_frame else 0, None, frame_step)
        res.poses, res.trans, res.G, res.P = res.poses[keep], res.trans[keep], res.G[keep], res.P[keep]
    else:
        if drop_first_frame and src.num_frames > 1:
            src = src.select_frames(slice(1, None))
        if frame_step > 1:
            src = src.select_frames(slice(None, None, frame_step))
        res = retarget(src, mapping, rest=rest, rest_joints=rest_joints, unit_scale=unit_scale,
                       up_axis=up_axis or r.up, exact_directions=exact_directions)
    meta = dict(src.meta)
    meta.update(cmu_ids(path))
    meta.update({"rig": r.name, "dropped_first_frame": bool(drop_first_frame), "fps_source": src.fps,
                 "unit_scale_m": res.info["unit_scale"], "up_axis": res.info["up_axis"], "rest": r.rest,
                 "mapping": {n: (src.names[m] if m is not None else None) for n, m in zip(SMPL_JOINT_NAMES, mapping)}})
    return src, r, res, meta


def load_bvh_motion(path: str | Path, rig: str | None = None, rest_joints=None,
                    drop_first_frame: bool | None = None, exact_directions: bool = True,
                    unit_scale: float | None = None, up_axis: str | None = None) -> Motion:
    """Read and retarget a BVH file to SMPL (see ``posekit.data.retarget``).

    rig: force a convention (``posekit.data.RIGS``), else detected from the joint names.
    drop_first_frame: drop a prepended reference frame (default: per rig: cgspeed's CMU conversion
    prepends a T-pose frame; recorded in ``meta["dropped_first_frame"]``).
    unit_scale (metres per unit) / up_axis ("+y", "+z"): override the rig's or the detected ones.
    """
    src, r, res, meta = retarget_bvh(path, rig, rest_joints, drop_first_frame, exact_directions, unit_scale, up_axis)
    return Motion(torch.as_tensor(res.poses, dtype=torch.float32), torch.as_tensor(res.trans, dtype=torch.float32),
                  float(src.fps), meta)


def write_bvh(path: str | Path, names: list[str], parents: list[int], offsets: np.ndarray, euler_deg: np.ndarray,
              root_pos: np.ndarray, fps: float, order: str = "ZYX", end_sites: dict | None = None) -> Path:
    """Write a BVH file (used by tests and examples): every joint has ``order`` rotation channels, the
    root also Xposition Yposition Zposition. euler_deg: (T, J, 3) angles in ``order``; root_pos: (T, 3).
    end_sites: joint index -> (3,) offset. Written atomically.
    """
    from ..utils import atomic_path
    end_sites = end_sites or {}
    children: dict[int, list] = {j: [] for j in range(len(names))}
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    axis = {"X": "Xrotation", "Y": "Yrotation", "Z": "Zrotation"}
    out: list[str] = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        ind = "\t" * depth
        out.append(f"{ind}{'ROOT' if parents[j] < 0 else 'JOINT'} {names[j]}")
        out.append(f"{ind}{{")
        o = offsets[j]
        out.append(f"{ind}\tOFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}")
        rot = " ".join(axis[a] for a in order)
        if parents[j] < 0:
            out.append(f"{ind}\tCHANNELS 6 Xposition Yposition Zposition {rot}")
        else:
            out.append(f"{ind}\tCHANNELS 3 {rot}")
        for c in children[j]:
            emit(c, depth + 1)
        if j in end_sites:
            e = end_sites[j]
            out.extend([f"{ind}\tEnd Site", f"{ind}\t{{", f"{ind}\t\tOFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}", f"{ind}\t}}"])
        out.append(f"{ind}}}")

    for j, p in enumerate(parents):
        if p < 0:
            emit(j, 0)
    # channel order in the file = depth-first order of emission
    order_idx: list[int] = []

    def visit(j: int) -> None:
        order_idx.append(j)
        for c in children[j]:
            visit(c)

    for j, p in enumerate(parents):
        if p < 0:
            visit(j)
    T = euler_deg.shape[0]
    out += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / fps:.8f}"]
    for t in range(T):
        vals = []
        for j in order_idx:
            if parents[j] < 0:
                vals += list(root_pos[t])
            vals += list(euler_deg[t, j])
        out.append(" ".join(f"{v:.6f}" for v in vals))
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(out) + "\n")
    return path
