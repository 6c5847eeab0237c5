"""Bad input to the data layer: each case gives one clear InputError / MotionFormatError naming the file and
what was expected, never a raw traceback or a silently wrong result (issue 21). Tiny files in tmp_path."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from posekit.data import MotionFormatError, find_asf, load_motion, parse_amc, parse_asf
from posekit.data.bvh import write_bvh
from posekit.data.dataset import _code_fingerprint, _file_cache_key, list_motion_files, pose_dataset
from posekit.data.motion import MAX_FPS, Motion, resample_motion
from posekit.data.retarget import PROVISIONAL_REST_JOINTS
from posekit.errors import InputError
from posekit.skeleton import SMPL_PARENTS

# MotionBuilder names in SMPL's joint order: the cgspeed rig maps them all
MB_NAMES = ["Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot",
            "Spine2", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
            "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand", "LeftHandMiddle1", "RightHandMiddle1"]


def _bvh(path: Path, T: int = 4, fps: float = 30.0) -> Path:
    """A small BVH of a rig posekit maps (SMPL's T-pose skeleton, MotionBuilder names): T frames, 75 channels."""
    rest = PROVISIONAL_REST_JOINTS
    offsets = np.zeros((24, 3))
    for j in range(1, 24):
        offsets[j] = rest[j] - rest[SMPL_PARENTS[j]]
    eul = np.zeros((T, 24, 3))
    eul[:, 4, 2] = np.linspace(0, 30, T)                                  # a bending knee
    root = np.repeat(rest[:1], T, axis=0)
    ends = {j: np.array([0.0, 0.05, 0.0]) for j in (10, 11, 15, 22, 23)}
    return write_bvh(path, MB_NAMES, list(SMPL_PARENTS), offsets, eul, root, fps, end_sites=ends)


def _frame_lines(text: str) -> tuple[list[str], int]:
    """The lines of a BVH and the index of its first frame line."""
    lines = text.splitlines()
    return lines, next(i for i, l in enumerate(lines) if l.startswith("Frame Time:")) + 1


def _amass(path: Path, T: int = 5, **keys) -> Path:
    rng = np.random.default_rng(0)
    d = dict(poses=rng.normal(scale=0.2, size=(T, 156)), trans=rng.normal(size=(T, 3)),
             mocap_framerate=np.array(60.0), gender=np.array("neutral"))
    d.update(keys)
    np.savez(path, **d)
    return path


def test_the_helpers_write_loadable_files(tmp_path):
    m = load_motion(_bvh(tmp_path / "ok.bvh"))
    assert len(m) == 4 and m.fps == 30.0 and torch.isfinite(m.poses).all()
    assert len(load_motion(_amass(tmp_path / "ok.npz"))) == 5


# ------------------------------------------------------------------------------------------------
# 1. a non-number among the frame values


def test_bvh_non_number_in_motion_names_file_and_line(tmp_path):
    p = _bvh(tmp_path / "walk.bvh")
    lines, first = _frame_lines(p.read_text())
    vals = lines[first + 1].split()
    vals[7] = "abc"
    lines[first + 1] = " ".join(vals)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(MotionFormatError, match=rf"walk\.bvh: line {first + 2}: frame 1 holds 'abc', which is not a "
                                                r"number; expected 75 numbers per frame line"):
        load_motion(p)


def test_bvh_number_with_comma_is_not_a_number(tmp_path):
    p = _bvh(tmp_path / "comma.bvh")
    lines, first = _frame_lines(p.read_text())
    vals = lines[first].split()
    vals[0] = "0,5"                                                       # a decimal comma, count unchanged
    lines[first] = " ".join(vals)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(MotionFormatError, match=rf"comma\.bvh: line {first + 1}: frame 0 holds '0,5'"):
        load_motion(p)


TOY_ASF = """:version 1.10
:name TOY
:units
  mass 1.0
  length 1.0
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name a
     direction 0 1 0
     length 2
     axis 0 0 0  XYZ
    dof rx ry rz
  end
:hierarchy
  begin
    root a
  end
"""


def test_amc_non_number_names_file_and_line(tmp_path):
    asf = tmp_path / "toy.asf"
    asf.write_text(TOY_ASF)
    amc = tmp_path / "toy_01.amc"
    amc.write_text(":FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 0 0 0 0 0\na 0 0 0\n2\nroot 0 0 0 0 0 0\na 0 x 0\n")
    with pytest.raises(MotionFormatError, match=r"toy_01\.amc: line 8: frame 2 holds 'x', which is not a number"):
        parse_amc(amc, parse_asf(asf))


# ------------------------------------------------------------------------------------------------
# 2. no frame at all


def test_bvh_with_zero_frames(tmp_path):
    p = _bvh(tmp_path / "empty.bvh")
    lines, first = _frame_lines(p.read_text())
    lines = lines[:first]
    k = next(i for i, l in enumerate(lines) if l.startswith("Frames:"))
    lines[k] = "Frames: 0"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(MotionFormatError, match=rf"empty\.bvh: line {k + 1}: 'Frames: 0': expected at least one frame"):
        load_motion(p)


def test_amass_with_zero_frames(tmp_path):
    p = _amass(tmp_path / "empty.npz", T=0)
    with pytest.raises(MotionFormatError, match=r"empty\.npz: key 'poses' has 0 frames .*expected at least one frame"):
        load_motion(p)


# ------------------------------------------------------------------------------------------------
# 3. every frame NaN


def test_bvh_every_frame_nan(tmp_path):
    p = _bvh(tmp_path / "nan.bvh")
    lines, first = _frame_lines(p.read_text())
    for i in range(first, len(lines)):
        vals = lines[i].split()
        vals[3 + i % 5] = "nan"
        lines[i] = " ".join(vals)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(MotionFormatError, match=r"nan\.bvh: all 4 frame\(s\) hold NaN/inf values; expected at least "
                                                r"one finite frame"):
        load_motion(p)


def test_amass_every_frame_nan(tmp_path):
    T = 5
    poses = np.random.default_rng(1).normal(size=(T, 156))
    poses[np.arange(T), np.arange(T) * 7] = np.nan
    p = _amass(tmp_path / "nan.npz", T=T, poses=poses)
    with pytest.raises(MotionFormatError, match=r"nan\.npz: all 5 frame\(s\) hold NaN/inf values"):
        load_motion(p)


# ------------------------------------------------------------------------------------------------
# 4. a frame time that is not one


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-0.0083333", "1e-320"])
def test_bvh_bad_frame_time(tmp_path, value):
    p = _bvh(tmp_path / "ft.bvh")
    lines, first = _frame_lines(p.read_text())
    lines[first - 1] = f"Frame Time: {value}"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(MotionFormatError, match=rf"ft\.bvh: line {first}: 'Frame Time: {value}' is not a frame time; "
                                                r"expected a positive, finite number of seconds per frame"):
        load_motion(p)


# ------------------------------------------------------------------------------------------------
# 5. the target frame rate of load_motion / pose_dataset


@pytest.mark.parametrize("fps", [float("nan"), float("inf"), 1e9, 0, -1, "fast"])
def test_load_motion_bad_fps(tmp_path, fps):
    p = _bvh(tmp_path / "walk.bvh")
    with pytest.raises(InputError, match=r"walk\.bvh: fps.*expected frames per second in \(0, 1000\]"):
        load_motion(p, fps=fps)


def test_load_motion_fps_at_the_maximum(tmp_path):
    m = load_motion(_bvh(tmp_path / "walk.bvh", T=2), fps=MAX_FPS)
    assert m.fps == MAX_FPS and len(m) == 34                # 1/30 s at 1000 fps: frames 0..33


def test_resampling_a_tiny_source_frame_rate_is_refused():
    m = Motion(torch.zeros(3, 24, 3), torch.zeros(3, 3), 1e-6, {"source": "slow.bvh"})
    with pytest.raises(InputError, match=r"slow\.bvh: resampling 3 frames at 1e-06 fps to 30 fps would make .*"
                                         r"expected at most 1000000"):
        resample_motion(m, 30)


@pytest.mark.parametrize("fps", [float("nan"), 1e9, 0])
def test_pose_dataset_bad_fps(tmp_path, fps):
    with pytest.raises(InputError, match=r"pose_dataset: fps.*expected frames per second in \(0, 1000\]"):
        pose_dataset(tmp_path, fps=fps, progress=False, cache=False)


# ------------------------------------------------------------------------------------------------
# 6. AMASS files with objects, strings, or not an .npz at all (never unpickled)


class _Unpickled:
    """Unpickling this would create the file ``flag``: the tests check that it never appears."""

    def __init__(self, flag: Path):
        self.flag = flag

    def __reduce__(self):
        return (Path.touch, (self.flag,))


def test_amass_object_framerate_is_refused_without_unpickling(tmp_path):
    flag = tmp_path / "unpickled"
    p = _amass(tmp_path / "obj.npz", mocap_framerate=np.array(_Unpickled(flag), dtype=object))
    with pytest.raises(MotionFormatError, match=r"obj\.npz: key 'mocap_framerate' holds Python objects .*"
                                                r"expected one number, the frame rate"):
        load_motion(p)
    q = _amass(tmp_path / "objposes.npz", poses=np.array([_Unpickled(flag)], dtype=object))
    with pytest.raises(MotionFormatError, match=r"objposes\.npz: key 'poses' holds Python objects"):
        load_motion(q)
    assert not flag.exists()


@pytest.mark.parametrize("value", ["sixty", "60"])
def test_amass_string_framerate(tmp_path, value):
    p = _amass(tmp_path / "str.npz", mocap_framerate=np.array(value))
    with pytest.raises(MotionFormatError, match=rf"str\.npz: key 'mocap_framerate' has dtype <U\d+ \('{value}'\); "
                                                r"expected one number, the frame rate in frames per second"):
        load_motion(p)


def test_amass_framerate_array_and_nan(tmp_path):
    p = _amass(tmp_path / "two.npz", mocap_framerate=np.array([60.0, 120.0]))
    with pytest.raises(MotionFormatError, match=r"two\.npz: key 'mocap_framerate' has shape \(2,\); expected one"):
        load_motion(p)
    q = tmp_path / "nanfps.npz"
    np.savez(q, poses=np.zeros((3, 156)), trans=np.zeros((3, 3)), mocap_frame_rate=np.array(np.nan))
    with pytest.raises(MotionFormatError, match=r"nanfps\.npz: key 'mocap_frame_rate' is nan; expected a positive"):
        load_motion(q)


def test_npy_and_pickle_renamed_npz(tmp_path):
    flag = tmp_path / "unpickled"
    a = tmp_path / "arr.npy"
    np.save(a, np.zeros((3, 156)))
    p = a.rename(tmp_path / "arr.npz")
    with pytest.raises(MotionFormatError, match=r"arr\.npz: a single \.npy array renamed \.npz; expected an AMASS "
                                                r"\.npz archive"):
        load_motion(p)
    b = tmp_path / "objarr.npy"
    np.save(b, np.array([_Unpickled(flag)], dtype=object), allow_pickle=True)
    q = b.rename(tmp_path / "objarr.npz")
    with pytest.raises(MotionFormatError, match=r"objarr\.npz: a single \.npy array renamed \.npz"):
        load_motion(q)
    import pickle
    r = tmp_path / "pickle.npz"
    r.write_bytes(pickle.dumps(_Unpickled(flag)))
    with pytest.raises(MotionFormatError, match=r"pickle\.npz: not an \.npz \(zip\) archive .*expected an AMASS \.npz"):
        load_motion(r)
    t = tmp_path / "cut.npz"
    t.write_bytes(_amass(tmp_path / "whole.npz").read_bytes()[:300])   # a download cut short
    with pytest.raises(MotionFormatError, match=r"cut\.npz: (not a readable \.npz archive|key 'poses' cannot be read)"):
        load_motion(t)
    assert not flag.exists()


# ------------------------------------------------------------------------------------------------
# 7. a damaged per-file pose-cache entry is deleted and rebuilt


class FakeLoader:
    """A deterministic motion per file name (T frames at 30 fps); counts calls."""

    def __init__(self, T=9):
        self.T, self.calls = T, []

    def __call__(self, path, fps=None):
        self.calls.append(Path(path).name)
        g = torch.Generator().manual_seed(sum(map(ord, Path(path).name)))
        return Motion(0.3 * torch.randn(self.T, 24, 3, generator=g), torch.zeros(self.T, 3), 30.0, {})


def _stub_folder(root: Path, names=("03_01.bvh", "03_02.bvh", "07_01.bvh", "08_01.bvh")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for n in names:
        (root / n).write_text("HIERARCHY\nROOT Hips\n{\n JOINT LeftUpLeg\n {\n }\n}\nMOTION\n")
    return root


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "random":
        path.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif how == "flip":             # the zip structure intact, the array bytes changed (a CRC mismatch)
        b = bytearray(data)
        mid = len(b) // 2
        b[mid:mid + 64] = bytes(x ^ 0xFF for x in b[mid:mid + 64])
        path.write_bytes(bytes(b))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "wrong":            # a readable archive with the wrong content
        np.savez(path, poses=np.zeros((3, 5)))


@pytest.mark.parametrize("how", ["truncate", "random", "flip", "empty", "wrong"])
def test_damaged_pose_cache_entry_is_rebuilt(tmp_path, how):
    folder = _stub_folder(tmp_path / "m")
    loader = FakeLoader()
    kw = dict(loader=loader, progress=False, val_subjects=("07",), test_subjects=("08",))
    ref = pose_dataset(folder, cache=False, **kw)
    cache = tmp_path / "cache"
    pose_dataset(folder, cache=cache, **kw)
    entry = cache / "files" / f"motion_{_file_cache_key(folder / '03_02.bvh', 30.0, _code_fingerprint(loader))}.npz"
    assert entry.is_file()
    _damage(entry, how)
    for f in cache.glob("pose_dataset_*.npz"):      # the assembled set is rebuilt from the per-file entries
        f.unlink()
    loader.calls.clear()
    with pytest.warns(RuntimeWarning, match=r"damaged pose-cache entry of 03_02\.bvh .*rebuilding it"):
        ds = pose_dataset(folder, cache=cache, **kw)
    assert loader.calls == ["03_02.bvh"]                          # only the damaged entry was rebuilt
    assert ds.failed == [] and ds.summary == ref.summary          # no file left its split
    for s in ("train", "val", "test"):
        assert torch.equal(ds.split(s), ref.split(s))
        assert ds.ids[s]["trial"].tolist() == ref.ids[s]["trial"].tolist()
    with np.load(entry, allow_pickle=False) as z:                # the entry is whole again
        assert z["poses"].shape == (9, 24, 3)
    for f in cache.glob("pose_dataset_*.npz"):
        f.unlink()
    loader.calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = pose_dataset(folder, cache=cache, **kw)
    assert loader.calls == [] and torch.equal(again.train, ref.train)


# ------------------------------------------------------------------------------------------------
# 8. ASF pairing: the skeleton named after the actor, each AMC after actor + motion


def test_find_asf_longest_prefix(tmp_path):
    for name in ("HDM.asf", "HDM_bd.asf", "HDM_mm.asf", "other.asf"):
        (tmp_path / name).write_text(TOY_ASF)
    amc = tmp_path / "HDM_bd_squat1Reps_001_120.amc"
    amc.write_text(":DEGREES\n1\nroot 0 0 0 0 0 0\na 0 0 0\n")
    assert find_asf(amc).name == "HDM_bd.asf"
    assert find_asf(tmp_path / "HDM_mm_walk_002_120.amc").name == "HDM_mm.asf"
    assert find_asf(tmp_path / "HDM_xy_walk.amc").name == "HDM.asf"
    # CMU's rules come first: 05_01.amc takes the subject's 05.asf, not the longer prefix 05_0.asf
    for name in ("05.asf", "05_0.asf"):
        (tmp_path / name).write_text(TOY_ASF)
    assert find_asf(tmp_path / "05_01.amc").name == "05.asf"
    assert find_asf(tmp_path / "other.amc").name == "other.asf"   # an exact stem first
    with pytest.raises(MotionFormatError, match=r"zzz_01\.amc: cannot find its ASF skeleton .*prefix of zzz_01.*"
                                                r"6 \.asf files in the folder\): pass asf=PATH"):
        find_asf(tmp_path / "zzz_01.amc")


def test_load_amc_named_after_the_actor(cmu_dir, tmp_path):
    """A real CMU skeleton renamed as another lab would name it, with a 2-frame AMC of its bones."""
    src = cmu_dir / "asfamc" / "09.asf"
    if not src.is_file():
        pytest.skip("09.asf not in the shared set")
    shutil.copy(src, tmp_path / "HDM_bd.asf")
    shutil.copy(src, tmp_path / "HDM.asf")
    shutil.copy(src, tmp_path / "explicit.asf")
    sk = parse_asf(tmp_path / "HDM_bd.asf")
    lines = [":FULLY-SPECIFIED", ":DEGREES"]
    for f in (1, 2):
        lines += [str(f), "root 0 17 0 0 0 0"]
        lines += [f"{b} " + " ".join(["0"] * len(sk.bones[b]["dof"])) for b in sk.joint_order()[1:]
                  if sk.bones[b]["dof"]]
    amc = tmp_path / "HDM_bd_squat1Reps_001_120.amc"
    amc.write_text("\n".join(lines) + "\n")
    m = load_motion(amc)
    assert len(m) == 2 and Path(m.meta["asf"]).name == "HDM_bd.asf" and torch.isfinite(m.poses).all()
    m2 = load_motion(amc, asf=tmp_path / "explicit.asf")          # the explicit argument wins
    assert Path(m2.meta["asf"]).name == "explicit.asf"
    with pytest.raises(FileNotFoundError, match=r"nope\.asf: no such ASF skeleton file \(for HDM_bd_squat1Reps"):
        load_motion(amc, asf=tmp_path / "nope.asf")


# ------------------------------------------------------------------------------------------------
# no motion file leaves a split silently


@pytest.mark.filterwarnings("ignore:pose_dataset. split .val. is empty")
def test_failed_file_is_named_every_time_and_not_cached(tmp_path):
    folder = _stub_folder(tmp_path / "m")
    good = FakeLoader()

    def loader(path, fps=None):
        if Path(path).name == "07_01.bvh":
            raise MotionFormatError(f"{path}: line 3: broken")
        return good(path, fps)

    kw = dict(loader=loader, progress=False, cache=tmp_path / "cache", val_subjects=("07",), test_subjects=("08",))
    for i in range(2):                    # the second call retries the file and says so again
        good.calls.clear()
        with pytest.warns(RuntimeWarning, match=r"07_01\.bvh: skipped, could not be loaded: .*line 3: broken"):
            ds = pose_dataset(folder, **kw)
        assert not ds.from_cache and [Path(p).name for p, _ in ds.failed] == ["07_01.bvh"]
        assert len(ds.files) == 3 and ds.subjects("val") == []
        if i:
            assert good.calls == []       # the good files come from their per-file cache entries
    assert "1 file(s) failed to load: 07_01.bvh" in ds.summary_table()


def test_unreadable_npz_in_a_motion_folder_is_named(tmp_path):
    folder = _stub_folder(tmp_path / "m", names=("03_01.bvh",))
    (folder / "03_02.npz").write_bytes(b"PK\x03\x04 cut short")
    np.savez(folder / "betas.npz", betas=np.zeros(10))             # other data: skipped quietly
    with pytest.warns(RuntimeWarning, match=r"03_02\.npz: skipped, not a readable \.npz archive"):
        files = list_motion_files(folder)
    assert [p.name for p in files] == ["03_01.bvh"]
