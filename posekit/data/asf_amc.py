"""CMU / Acclaim ASF (skeleton) + AMC (motion) reading.

ASF: per bone a rest ``direction`` (unit vector, world frame), ``length``, ``axis ax ay az ORDER``
(the bone's local frame C) and ``dof`` (the rotation channels, in order). Acclaim's forward
kinematics: W_bone = W_parent · C · M · Cᵀ, with M the dof rotations (first listed applied first,
about fixed axes) and the bone's end = its start + W_bone · direction · length. Here every bone is a
joint at its start point (so the BVH machinery applies: local rotation C M Cᵀ, offset = the parent
bone's direction · length); leaf bones get an end-site joint ``<bone>_End``.

Units: ``:units length L`` means the file's lengths are inches × L (CMU: L = 0.45), so metres =
value / L × 0.0254. Angles: ``:units angle deg|rad``. AMC files carry no frame rate: CMU captures
are 120 fps (``fps_default``).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, check_positive
from .motion import Motion, MotionFormatError, cmu_ids, drop_nonfinite_frames
from .retarget import SourceMotion, retarget
from .rigs import detect_rig

__all__ = ["parse_asf", "parse_amc", "find_asf", "retarget_amc", "load_amc_motion", "AsfSkeleton"]


class AsfSkeleton:
    """Parsed ASF: bones (name -> dict(direction, length, axis, axis_order, dof)), root info, hierarchy, units."""

    def __init__(self, path: Path):
        self.path = path
        self.units = {"mass": 1.0, "length": 1.0, "angle": "deg"}
        self.root = {"order": ["TX", "TY", "TZ", "RX", "RY", "RZ"], "axis": "XYZ",
                     "position": np.zeros(3), "orientation": np.zeros(3)}
        self.bones: dict[str, dict] = {}
        self.children: dict[str, list] = {}

    @property
    def metres_per_unit(self) -> float:
        return 0.0254 / float(self.units["length"])

    @property
    def degrees(self) -> bool:
        return str(self.units["angle"]).lower().startswith("deg")

    def joint_order(self) -> list[str]:
        """root then the bones in depth-first order of the hierarchy."""
        out: list[str] = []

        def visit(n: str) -> None:
            out.append(n)
            for c in self.children.get(n, []):
                visit(c)

        visit("root")
        return out


def _floats(tok: list[str], path: Path, lineno: int, n: int | None = None) -> np.ndarray:
    try:
        v = np.array([float(t) for t in tok])
    except ValueError:
        raise MotionFormatError(f"{path}: line {lineno}: expected numbers, got {' '.join(tok)!r}") from None
    if n is not None and len(v) != n:
        raise MotionFormatError(f"{path}: line {lineno}: expected {n} numbers, got {len(v)}")
    return v


def parse_asf(path: str | Path) -> AsfSkeleton:
    """Read an Acclaim ASF skeleton. Raises ``MotionFormatError`` naming file and line."""
    path = Path(path)
    sk = AsfSkeleton(path)
    section = None
    bone: dict | None = None
    bone_line = 0
    for lineno, raw in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        tok = s.split()
        if s.startswith(":"):
            section = tok[0][1:].lower()
            if section in ("version", "name", "documentation"):
                pass
            elif section not in ("units", "root", "bonedata", "hierarchy"):
                pass  # unknown sections are skipped
            continue
        if section == "units":
            if len(tok) >= 2:
                sk.units[tok[0].lower()] = tok[1] if tok[0].lower() == "angle" else float(tok[1])
        elif section == "root":
            key = tok[0].lower()
            if key == "order":
                sk.root["order"] = [t.upper() for t in tok[1:]]
            elif key == "axis":
                sk.root["axis"] = tok[1].upper()
            elif key in ("position", "orientation"):
                sk.root[key] = _floats(tok[1:], path, lineno, 3)
        elif section == "bonedata":
            key = tok[0].lower()
            if key == "begin":
                bone, bone_line = {"dof": [], "axis": np.zeros(3), "axis_order": "XYZ"}, lineno
            elif key == "end":
                if bone is None or "name" not in bone:
                    raise MotionFormatError(f"{path}: line {lineno}: 'end' of a bone without 'begin'/'name'")
                for k in ("direction", "length"):
                    if k not in bone:
                        raise MotionFormatError(f"{path}: line {bone_line}: bone {bone['name']!r} has no {k!r}")
                sk.bones[bone["name"]] = bone
                bone = None
            elif bone is None:
                if key != "limits" and not s.startswith("("):
                    raise MotionFormatError(f"{path}: line {lineno}: {key!r} outside a bone's begin/end")
            elif key == "name":
                bone["name"] = tok[1]
            elif key == "direction":
                bone["direction"] = _floats(tok[1:4], path, lineno, 3)
            elif key == "length":
                bone["length"] = float(_floats(tok[1:2], path, lineno, 1)[0])
            elif key == "axis":
                bone["axis"] = _floats(tok[1:4], path, lineno, 3)
                bone["axis_order"] = tok[4].upper() if len(tok) > 4 else "XYZ"
            elif key == "dof":
                bone["dof"] = [t.lower() for t in tok[1:]]
        elif section == "hierarchy":
            if tok[0].lower() in ("begin", "end"):
                continue
            parent = tok[0]
            if parent != "root" and parent not in sk.bones:
                raise MotionFormatError(f"{path}: line {lineno}: hierarchy names unknown bone {parent!r}")
            for c in tok[1:]:
                if c not in sk.bones:
                    raise MotionFormatError(f"{path}: line {lineno}: hierarchy names unknown bone {c!r}")
                sk.children.setdefault(parent, []).append(c)
    if not sk.bones:
        raise MotionFormatError(f"{path}: no :bonedata section (not an ASF file?)")
    if "root" not in sk.children:
        raise MotionFormatError(f"{path}: no :hierarchy section linking the bones to 'root'")
    return sk


def _euler(order: str, angles: np.ndarray, degrees: bool) -> np.ndarray:
    """Rotations about fixed axes, first letter applied first: angles (N, k) -> (N, 3, 3).

    Extrinsic "XYZ" (x first) = R_z R_y R_x = intrinsic "ZYX" (``bvh.euler_matrices``)."""
    from .bvh import euler_matrices
    deg = np.asarray(angles, dtype=np.float64) if degrees else np.degrees(angles)
    return euler_matrices(order.upper()[::-1], deg[:, ::-1])


def parse_amc(path: str | Path, sk: AsfSkeleton, fps: float = 120.0) -> SourceMotion:
    """Read an AMC motion for the skeleton ``sk`` into a ``SourceMotion`` (ASF units, y up).

    Raises ``MotionFormatError`` naming file and line for a bone not in the skeleton, a wrong number of
    values, or a frame missing a bone; frames with NaN are dropped with a warning.
    """
    path = Path(path)
    names = sk.joint_order()
    index = {n: i for i, n in enumerate(names)}
    root_chans = sk.root["order"]
    ndof = {"root": len(root_chans)}
    for n in names[1:]:
        ndof[n] = len(sk.bones[n]["dof"])
    cols = {}
    c = 0
    for n in names:
        cols[n] = (c, c + ndof[n])
        c += ndof[n]
    n_cols = c
    need = {n for n in names if ndof[n]}
    vals: list[str] = []            # value text of every bone line
    val_lines: list[int] = []       # its line number
    starts: list[int] = []          # flat index (frame * n_cols + first column) of each line
    counts: list[int] = []
    frame_line: list[int] = []      # line number of each frame's header
    seen: set = set()
    n_frames = 0

    def check_frame() -> None:
        if n_frames and len(seen) != len(need):
            missing = sorted(need - seen)
            raise MotionFormatError(f"{path}: line {frame_line[-1]}: frame {n_frames} lacks bone(s) {missing}")

    for lineno, raw in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        s = raw.strip()
        if not s or s[0] in "#:":
            continue
        parts = s.split(None, 1)
        if len(parts) == 1 and parts[0].isdigit():
            check_frame()
            n_frames += 1
            frame_line.append(lineno)
            seen = set()
            continue
        if not n_frames:
            raise MotionFormatError(f"{path}: line {lineno}: bone values before the first frame number")
        name = parts[0]
        if name not in index:
            raise MotionFormatError(f"{path}: line {lineno}: bone {name!r} is not in the skeleton {sk.path.name} "
                                    f"(its bones: {', '.join(names[:8])}, ...)")
        a, b = cols[name]
        rest = parts[1] if len(parts) > 1 else ""
        k = len(rest.split())
        if k != b - a:
            raise MotionFormatError(f"{path}: line {lineno}: bone {name!r} has {k} values, the skeleton "
                                    f"{sk.path.name} declares {b - a} dof")
        vals.append(rest)
        val_lines.append(lineno)
        starts.append((n_frames - 1) * n_cols + a)
        counts.append(k)
        seen.add(name)
    check_frame()
    if not n_frames:
        raise MotionFormatError(f"{path}: no frames (expected a frame number line then 'bone values' lines)")
    from .bvh import _first_non_number, _parse_numbers
    flat = _parse_numbers(" ".join(vals))                                    # (sum of counts,) or None
    counts_a = np.asarray(counts)
    if flat is None or flat.size != counts_a.sum():
        for v, st, ln in zip(vals, starts, val_lines):
            bad = _first_non_number(v.split())
            if bad is not None:
                raise MotionFormatError(f"{path}: line {ln}: frame {st // n_cols + 1} holds {bad!r}, which is not "
                                        "a number; expected numbers after the bone name")
        raise MotionFormatError(f"{path}: could not read the bone values as numbers")
    first = np.cumsum(counts_a) - counts_a                                    # first value of each line
    idx = np.repeat(np.asarray(starts), counts_a) + (np.arange(flat.size) - np.repeat(first, counts_a))
    data = np.zeros(n_frames * n_cols)
    data[idx] = flat
    data = data.reshape(n_frames, n_cols)                                     # (T, C)
    data, dropped = drop_nonfinite_frames(data, path)
    T, J = data.shape[0], len(names)
    deg = sk.degrees
    # -- rest offsets (world frame) and end sites
    parents, offsets = [-1], [np.zeros(3)]
    for n in names[1:]:
        p = next(q for q, kids in sk.children.items() if n in kids)
        parents.append(index[p])
        offsets.append(np.zeros(3) if p == "root" else sk.bones[p]["direction"] * sk.bones[p]["length"])
    local = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
    # -- root: translation and rotation (order line), frame C from orientation/axis
    r_ord = "".join(ch[1] for ch in root_chans if ch.startswith("R"))
    t_idx = [i for i, ch in enumerate(root_chans) if ch.startswith("T")]
    r_idx = [i for i, ch in enumerate(root_chans) if ch.startswith("R")]
    root_pos = np.zeros((T, 3))
    for i in t_idx:
        root_pos[:, "XYZ".index(root_chans[i][1])] = data[:, i]
    root_pos = root_pos + sk.root["position"]
    C = _euler(sk.root["axis"], sk.root["orientation"][None], deg)[0]
    if r_ord:
        M = _euler(r_ord, data[:, r_idx], deg)
        local[:, 0] = C @ M @ C.T
    # -- bones: L = C M Cᵀ
    for n in names[1:]:
        bone = sk.bones[n]
        j = index[n]
        rdofs = [d for d in bone["dof"] if d in ("rx", "ry", "rz")]
        if not rdofs:
            continue
        Cb = _euler(bone["axis_order"], bone["axis"][None], deg)[0]
        a, _ = cols[n]
        pos = [a + k for k, d in enumerate(bone["dof"]) if d in ("rx", "ry", "rz")]
        M = _euler("".join(d[1] for d in rdofs), data[:, pos], deg)          # (T, 3, 3)
        local[:, j] = Cb @ M @ Cb.T
    # -- end sites of leaf bones
    for n in list(names[1:]):
        if not sk.children.get(n):
            names.append(f"{n}_End")
            parents.append(index[n])
            offsets.append(sk.bones[n]["direction"] * sk.bones[n]["length"])
    local = np.concatenate([local, np.broadcast_to(np.eye(3), (T, len(names) - J, 3, 3))], axis=1)
    meta = {"source": str(path), "format": "asf/amc", "asf": str(sk.path), "dropped_nan_frames": dropped,
            "frames_in_file": n_frames}
    return SourceMotion(names, np.array(parents), np.stack(offsets), local, root_pos, float(fps), {}, meta)


def find_asf(amc: Path) -> Path:
    """The ASF for an AMC, in this order: same stem; ``NN_MM__with_KKasf`` -> ``KK.asf`` (see the dev set's
    SOURCES.md); the subject's ``NN.asf``; the stem without trailing digits (``charleston1`` -> ``charleston``);
    the ``.asf`` whose stem is the longest prefix of the AMC's stem (other labs name the skeleton after the
    actor: ``HDM_bd.asf`` for ``HDM_bd_squat1Reps_001_120.amc``); else the only ``.asf`` in the folder."""
    folder, stem = amc.parent, amc.stem
    cands = [folder / f"{stem}.asf"]
    m = re.search(r"__with_(\w+?)asf$", stem)
    if m:
        cands.append(folder / f"{m.group(1)}.asf")
    m = re.match(r"^(\d+)_\d+", stem)
    if m:
        cands += [folder / f"{m.group(1)}.asf", folder / f"{m.group(1).zfill(2)}.asf"]
    base = re.sub(r"\d+$", "", stem)
    if base and base != stem:
        cands.append(folder / f"{base}.asf")
    for c in cands:
        if c.is_file():
            return c
    all_asf = sorted(p for p in folder.glob("*.asf") if p.is_file())
    prefixes = [p for p in all_asf if stem.startswith(p.stem)]
    if prefixes:
        return max(prefixes, key=lambda p: len(p.stem))   # stems of one folder differ: the longest is unique
    if len(all_asf) == 1:
        return all_asf[0]
    raise MotionFormatError(f"{amc}: cannot find its ASF skeleton (tried {[c.name for c in cands]} and any "
                            f"'<prefix of {stem}>.asf'; {len(all_asf)} .asf files in the folder): pass asf=PATH")


def retarget_amc(path: str | Path, asf: str | Path | None = None, fps_default: float = 120.0, rest_joints=None,
                 exact_directions: bool = True, frame_step: int = 1):
    """Parse and retarget an AMC (+ ASF). Returns (source motion, rig, RetargetResult, meta)."""
    path = Path(path)
    try:
        fps_default = check_positive("fps_default", fps_default)
    except InputError as e:
        raise InputError(f"{path}: {e} (AMC files carry no frame rate; CMU's is 120)") from None
    asf_path = Path(asf) if asf is not None else find_asf(path)
    if not asf_path.is_file():
        raise FileNotFoundError(f"{asf_path}: no such ASF skeleton file (for {path.name})")
    sk = parse_asf(asf_path)
    src = parse_amc(path, sk, fps_default)
    if frame_step > 1:
        src = src.select_frames(slice(None, None, frame_step))
    r, mapping = detect_rig(src.names, path)
    res = retarget(src, mapping, rest=None, rest_joints=rest_joints, unit_scale=sk.metres_per_unit,
                   up_axis=r.up, exact_directions=exact_directions)
    meta = dict(src.meta)
    meta.update(cmu_ids(path))
    meta.update({"rig": r.name, "fps_source": float(fps_default), "fps_note": "AMC has no frame rate: CMU default",
                 "unit_scale_m": res.info["unit_scale"], "up_axis": res.info["up_axis"], "rest": "zero",
                 "dropped_first_frame": False})
    return src, r, res, meta


def load_amc_motion(path: str | Path, asf: str | Path | None = None, fps_default: float = 120.0,
                    rest_joints=None, exact_directions: bool = True) -> Motion:
    """Read an AMC (+ its ASF: ``asf=`` or found by ``find_asf``) and retarget it to SMPL.

    fps_default: the frame rate to assume (AMC files do not store one; CMU captured at 120 fps).
    """
    src, r, res, meta = retarget_amc(path, asf, fps_default, rest_joints, exact_directions)
    return Motion(torch.as_tensor(res.poses, dtype=torch.float32), torch.as_tensor(res.trans, dtype=torch.float32),
                  float(fps_default), meta)
