"""pose_dataset: dedup, subject split, thinning, resampling count, cache. Fake loaders keep these fast;
one test uses the real loader on one shared file when it is available."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from posekit.data.dataset import (assign_splits, deduplicate, detect_format, list_motion_files, pose_dataset,
                                  thin_frames, trial_key)
from posekit.data.motion import Motion


class FakeLoader:
    """Returns a deterministic motion per file (T frames at ``src_fps``), ignoring ``fps`` (so
    pose_dataset must resample itself), and counts calls."""

    def __init__(self, T=121, src_fps=120.0):
        self.T, self.src_fps, self.calls = T, src_fps, []

    def __call__(self, path, fps=None):
        self.calls.append(Path(path))
        seed = sum(map(ord, Path(path).name))
        g = torch.Generator().manual_seed(seed)
        poses = 0.3 * torch.randn(self.T, 24, 3, generator=g)
        return Motion(poses, torch.zeros(self.T, 3), self.src_fps, {"source": str(path)})


def _bvh(path: Path, first_joint="LeftUpLeg"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"HIERARCHY\nROOT Hips\n{{\n JOINT {first_joint}\n {{\n }}\n}}\nMOTION\n")


def test_trial_key_and_format(cmu_dir):
    assert trial_key("x/002_01.bvh") == ("02", "02_01")
    assert trial_key("02_01__with_12asf.amc") == ("02", "02_01")
    assert trial_key("charleston2.amc") == ("charleston", "charleston2")
    assert detect_format(cmu_dir / "bvh_iclone_cc" / "01_01.bvh") == "bvh_iclone"
    assert detect_format(cmu_dir / "bvh_cgspeed_motionbuilder" / "01_01.bvh") == "bvh_cgspeed"
    assert detect_format(cmu_dir / "bvh_secondlife_scaled" / "60_01.bvh") == "bvh_secondlife"
    assert detect_format(cmu_dir / "asfamc" / "01_01.amc") == "asfamc"


def test_dedup_keeps_one_copy_per_trial(cmu_dir):
    files = list_motion_files(cmu_dir)
    kept, dropped = deduplicate(files)
    trials = [trial_key(p)[1] for p in kept]
    assert len(trials) == len(set(trials))                              # one file per trial
    assert set(trials) == {trial_key(p)[1] for p in files}              # no trial lost
    assert len(kept) + len(dropped) == len(files)
    by_trial = {trial_key(p)[1]: p for p in kept}
    assert by_trial["01_01"].parent.name == "asfamc"                   # ASF/AMC > cgspeed > iClone
    assert {p.parent.name for p, _ in dropped if trial_key(p)[1] == "01_01"} == {"bvh_iclone_cc",
                                                                              "bvh_cgspeed_motionbuilder"}
    # another preference order picks another copy
    kept2, _ = deduplicate(files, prefer=("bvh_iclone", "bvh_cgspeed", "asfamc"))
    assert {trial_key(p)[1]: p for p in kept2}["01_01"].parent.name == "bvh_iclone_cc"


def test_split_by_subject_on_shared_set(cmu_dir, tmp_path):
    loader = FakeLoader(T=9)
    ds = pose_dataset(cmu_dir, loader=loader, cache=False, progress=False)
    sets = {s: set(ds.subjects(s)) for s in ("train", "val", "test")}
    # the documented rule on the shared set: several subjects in each held-out split
    assert sets["test"] == {"12", "17", "135"}
    assert sets["val"] == {"06", "10", "13", "49", "94"}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    for s in ("train", "val", "test"):
        assert len(ds.split(s)) > 0
        assert ds.split(s).shape[1:] == (24, 3) and ds.split(s).dtype == torch.float32
        assert len(ds.ids[s]["subject"]) == len(ds.split(s))
    # per-frame ids agree with the file names, and each trial was loaded once
    trials = [trial_key(p)[1] for p in loader.calls]
    assert len(trials) == len(set(trials)) == len({trial_key(p)[1] for p in list_motion_files(cmu_dir)})
    assert ds.body21("train").shape == (len(ds.train), 21, 3)
    torch.testing.assert_close(ds.body21("val"), ds.val[:, 1:22])
    table = ds.summary_table()
    assert "basketball" in table and "empi" in table   # activities from the CMU index (135: karate kata)
    assert sum(r["frames"] for r in ds.summary) == len(ds.train) + len(ds.val) + len(ds.test)


def test_max_files_keeps_every_split(cmu_dir):
    loader = FakeLoader(T=5)
    ds = pose_dataset(cmu_dir, loader=loader, cache=False, progress=False, max_files=3)
    assert len(loader.calls) == 3
    assert all(len(ds.split(s)) > 0 for s in ("train", "val", "test"))


def test_subject_split_rule_closed_form():
    import hashlib
    from posekit.data.dataset import SPLIT_SALT, subject_split
    for sid in ["01", "06", "12", "135", "200", "7"]:
        u = int(hashlib.sha256(f"{SPLIT_SALT}:{sid.zfill(2)}".encode()).hexdigest()[:8], 16) / 2 ** 32
        assert subject_split(sid) == ("test" if u < 0.2 else "val" if u < 0.4 else "train")
    assert subject_split("charleston") == "train"                   # non-CMU clips train
    assert subject_split("6") == subject_split("06")
    # stable: a subject's split does not depend on which other subjects are present
    many = assign_splits([str(i) for i in range(1, 150)])
    assert all(many[str(i).zfill(2)] == subject_split(str(i)) for i in range(1, 150))
    frac = {k: sum(v == k for v in many.values()) / len(many) for k in ("train", "val", "test")}
    assert 0.1 < frac["test"] < 0.3 and 0.1 < frac["val"] < 0.3


def test_assign_splits_rules():
    sp = assign_splits(["1", "02", "6", "60", "lambada"], val_subjects=(60,), test_subjects=("6",))
    assert sp == {"01": "train", "02": "train", "06": "test", "60": "val", "lambada": "train"}
    with pytest.raises(ValueError, match="both"):
        assign_splits(["01"], val_subjects=("01",), test_subjects=("1",))
    assert set(assign_splits(["01", "06"], split="none").values()) == {"train"}


def _knee_seq(deg):
    p = np.zeros((len(deg), 24, 3))
    p[:, 4, 0] = np.deg2rad(deg)
    return p


def test_thinning_closed_form():
    # greedy against the last KEPT frame: 0 | 2, 4 (<5) dropped | 6 kept | 10 (4 from 6) dropped | 20 kept
    keep = thin_frames(_knee_seq([0, 0, 0, 2, 4, 6, 10, 10, 20]), 5.0)
    assert keep.tolist() == [0, 5, 8]
    # exact duplicates are removed, a 5.5 deg step on one joint is kept even if others do not move
    p = _knee_seq([0] * 5 + [5.5] * 3)
    assert thin_frames(p, 5.0).tolist() == [0, 5]
    # the max over joints counts: joint A moves 3 deg, joint B 6 deg -> kept
    q = np.zeros((2, 24, 3))
    q[1, 4] = Rotation.from_euler("x", 3, degrees=True).as_rotvec()
    q[1, 18] = Rotation.from_euler("y", 6, degrees=True).as_rotvec()
    assert thin_frames(q, 5.0).tolist() == [0, 1]
    assert thin_frames(q, 6.5).tolist() == [0]
    # the global orientation (joint 0) is not a body joint: turning on the spot is a duplicate pose
    r = np.zeros((3, 24, 3))
    r[:, 0, 1] = np.deg2rad([0, 40, 80])
    assert thin_frames(r, 5.0).tolist() == [0]


def test_thinning_in_dataset(tmp_path):
    _bvh(tmp_path / "m" / "03_01.bvh")

    def loader(path, fps=None):
        deg = [0, 0, 0, 2, 4, 6, 10, 10, 20]
        return Motion(torch.from_numpy(_knee_seq(deg)).float(), torch.zeros(9, 3), fps, {})

    full = pose_dataset(tmp_path / "m", loader=loader, cache=False, progress=False, split="none")
    thin = pose_dataset(tmp_path / "m", loader=loader, cache=False, progress=False, split="none", thin=5.0)
    assert len(full.train) == 9 and len(thin.train) == 3
    torch.testing.assert_close(thin.train, full.train[[0, 5, 8]])


def test_resampling_count_and_values(tmp_path):
    """T = 121 frames at 120 fps -> floor((T-1)·30/120) + 1 = 31 frames at 30 fps; a constant-speed
    rotation about one axis resamples to every 4th source angle."""
    _bvh(tmp_path / "m" / "03_01.bvh")
    T = 121
    ang = np.linspace(0.0, 1.2, T)                     # rad, constant speed

    def loader(path, fps=None):                      # ignores fps: returns the native 120 fps
        p = np.zeros((T, 24, 3))
        p[:, 5, 0] = ang
        return Motion(torch.from_numpy(p).float(), torch.zeros(T, 3), 120.0, {})

    ds = pose_dataset(tmp_path / "m", fps=30, loader=loader, cache=False, progress=False, split="none")
    assert len(ds.train) == (T - 1) * 30 // 120 + 1 == 31
    np.testing.assert_allclose(ds.train[:, 5, 0].numpy(), ang[::4], atol=1e-5)
    ds2 = pose_dataset(tmp_path / "m", fps=50, loader=loader, cache=False, progress=False, split="none")
    assert len(ds2.train) == int(np.floor((T - 1) / 120 * 50)) + 1 == 51
    np.testing.assert_allclose(ds2.train[:, 5, 0].numpy(), np.arange(51) / 50 * (1.2 / (120 / 120)), atol=1e-5)


def test_cache_hit_identical_and_param_change_misses(tmp_path):
    for name in ("03_01.bvh", "03_02.bvh", "07_01.bvh", "08_01.bvh"):
        _bvh(tmp_path / "m" / name)
    cache = tmp_path / "cache"
    loader = FakeLoader(T=41)
    kw = dict(loader=loader, cache=cache, progress=False, val_subjects=("07",), test_subjects=("08",))
    a = pose_dataset(tmp_path / "m", **kw)
    n_calls = len(loader.calls)
    assert n_calls == 4 and not a.from_cache
    assert len(list(cache.glob("*.npz"))) == 1 and not list(cache.glob(".*"))   # atomic: no temp left
    assert len(list((cache / "files").glob("motion_*.npz"))) == 4                 # one entry per file
    b = pose_dataset(tmp_path / "m", **kw)
    assert b.from_cache and len(loader.calls) == n_calls                          # nothing re-parsed
    for s in ("train", "val", "test"):
        assert torch.equal(a.split(s), b.split(s))
        assert a.ids[s]["trial"].tolist() == b.ids[s]["trial"].tolist()
    assert a.summary == b.summary
    c = pose_dataset(tmp_path / "m", thin=2.0, **kw)                               # changed parameter:
    assert not c.from_cache and len(loader.calls) == n_calls                      # re-assembled, not re-parsed
    c_fresh = pose_dataset(tmp_path / "m", thin=2.0, **dict(kw, cache=False))     # same as without any cache
    assert torch.equal(c.train, c_fresh.train)
    n_calls = len(loader.calls)
    d = pose_dataset(tmp_path / "m", fps=20, **kw)                                 # another rate: re-parsed
    assert not d.from_cache and len(loader.calls) == n_calls + 4
    n_calls = len(loader.calls)
    f = tmp_path / "m" / "03_01.bvh"                                               # changed file: only it
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    e = pose_dataset(tmp_path / "m", **kw)
    assert not e.from_cache and [p.name for p in loader.calls[n_calls:]] == ["03_01.bvh"]
    n_calls = len(loader.calls)
    _bvh(tmp_path / "m" / "03_05.bvh")                                             # added file: only it
    g = pose_dataset(tmp_path / "m", **kw)
    assert not g.from_cache and [p.name for p in loader.calls[n_calls:]] == ["03_05.bvh"]
    assert len(g.train) > len(e.train)


def test_bad_input_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="POSEKIT_DATA"):
        pose_dataset(tmp_path / "nope", progress=False, cache=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no motion files"):
        pose_dataset(tmp_path / "empty", progress=False, cache=False)
    with pytest.raises(ValueError, match="fps"):
        pose_dataset(tmp_path / "empty", fps=0)
    with pytest.raises(ValueError, match="thin"):
        pose_dataset(tmp_path / "empty", thin=-1)


def test_failing_file_is_skipped_with_warning(tmp_path):
    _bvh(tmp_path / "m" / "03_01.bvh")
    _bvh(tmp_path / "m" / "03_02.bvh")
    good = FakeLoader(T=4, src_fps=30.0)

    def loader(path, fps=None):
        if "03_02" in str(path):
            raise ValueError("broken file line 7")
        return good(path, fps)

    with pytest.warns(RuntimeWarning, match="03_02.*broken file line 7"):
        ds = pose_dataset(tmp_path / "m", loader=loader, cache=False, progress=False, split="none")
    assert len(ds.train) == 4 and len(ds.failed) == 1
    with pytest.raises(ValueError, match="broken"):
        pose_dataset(tmp_path / "m", loader=loader, cache=False, progress=False, on_error="raise")


def test_real_loader_frame_count(cmu_dir, tmp_path):
    """The real loader on the cgspeed BVH (120 fps): count at 30 fps from the header's frame count."""
    pytest.importorskip("posekit.data.bvh")
    src = cmu_dir / "bvh_cgspeed_motionbuilder" / "01_01.bvh"
    head = src.read_text(errors="replace")[:200000]
    T = int(re.search(r"Frames:\s*(\d+)", head).group(1))
    dt = float(re.search(r"Frame Time:\s*([\d.eE+-]+)", head).group(1))
    (tmp_path / "m").mkdir()
    os.symlink(src, tmp_path / "m" / "01_01.bvh")        # a link, never a copy of the data
    ds = pose_dataset(tmp_path / "m", fps=30, cache=False, progress=False, split="none")
    assert len(ds.train) == int(np.floor((T - 1) * dt * 30 + 1e-9)) + 1
    assert torch.isfinite(ds.train).all()


def test_failed_preferred_copy_falls_back_to_next_format(cmu_dir):
    good = FakeLoader(T=5, src_fps=30.0)

    def loader(path, fps=None):
        if str(path).endswith(".amc"):
            raise ValueError("no ASF parser here")
        return good(path, fps)

    with pytest.warns(RuntimeWarning, match="no ASF parser"):
        ds = pose_dataset(cmu_dir, loader=loader, cache=False, progress=False)
    used = {f["trial"]: f for f in ds.files}
    assert used["01_01"]["format"] == "bvh_cgspeed"          # next in the preference order
    assert used["02_01"]["format"] == "bvh_iclone"
    assert "charleston1" not in used                          # only an AMC copy exists
    assert len(ds.files) == len({f["trial"] for f in ds.files})


def test_cache_keeps_only_recent_files(tmp_path):
    from posekit.data.dataset import _prune_cache
    for i in range(5):
        f = tmp_path / f"pose_dataset_{i}.npz"
        f.write_bytes(b"x")
        os.utime(f, (1000 + i, 1000 + i))
    (tmp_path / "other.npz").write_bytes(b"y")
    _prune_cache(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.npz", "pose_dataset_3.npz", "pose_dataset_4.npz"]
