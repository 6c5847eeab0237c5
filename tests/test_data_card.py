"""The data card (python -m posekit.data report), the embedded sample and the data search order."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from posekit.data import load_motion, paths
from posekit.data.dataset import list_motion_files, pose_dataset, subject_split, trial_key
from posekit.data.report import data_card, format_card, load_quality_record, per_format, per_subject
from posekit.data.sample import write_amass_npz

SAMPLE = paths.embedded_sample_dir()


def test_embedded_sample_is_small_real_and_matches_its_manifest():
    import hashlib
    man = json.loads((SAMPLE / "manifest.json").read_text())
    files = list_motion_files(SAMPLE)
    assert len(files) == len(man["clips"]) >= 36
    assert sum(f.stat().st_size for f in SAMPLE.iterdir()) < 3.2e6
    for c in man["clips"]:
        f = SAMPLE / c["file"]
        assert hashlib.sha256(f.read_bytes()).hexdigest() == c["sha256"]
        assert c["split"] == subject_split(c["subject"])          # the documented split rule
    held = [c for c in man["clips"] if c["split"] != "train"]
    assert len(held) >= 30 and len({c["subject"] for c in held}) >= 6
    assert "mocap.cs.cmu.edu" in (SAMPLE / "README.md").read_text()
    assert not any(p.suffix.lower() in (".bvh", ".amc", ".asf") for p in SAMPLE.rglob("*"))
    m = load_motion(files[0])
    assert m.poses.shape[1:] == (24, 3) and m.fps == 30.0 and torch.isfinite(m.poses).all()


def test_amass_writer_round_trips_through_the_reader(tmp_path):
    from posekit.data.motion import Motion
    g = torch.Generator().manual_seed(0)
    poses = 0.4 * torch.randn(12, 24, 3, generator=g)
    poses[:, 22:] = 0
    trans = torch.randn(12, 3, generator=g)
    f = write_amass_npz(tmp_path / "07_01.npz", Motion(poses, trans, 30.0, {}))
    z = np.load(f)
    assert z["poses"].shape == (12, 72) and float(z["mocap_framerate"]) == 30.0
    back = load_motion(f)
    torch.testing.assert_close(back.trans, trans, atol=1e-5, rtol=0)
    import roma
    R = roma.rotvec_to_rotmat(back.poses)
    torch.testing.assert_close(R, roma.rotvec_to_rotmat(poses), atol=1e-5, rtol=0)
    # the file is Z-up like AMASS: the stored pelvis height is its y in SMPL's frame
    assert not np.allclose(z["trans"], trans.numpy(), atol=1e-3)


def test_search_order_falls_back_to_the_embedded_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(paths, "shared_cmu_dir", lambda: tmp_path / "no_shared")
    assert paths.find_motion_dir() == SAMPLE
    assert paths.data_source() == "embedded sample"
    ds = pose_dataset(progress=False, cache=False)          # no SYNTHETIC fallback on a fresh machine
    assert not ds.synthetic and ds.kind == "real"
    assert all(len(ds.split(s)) > 0 for s in ("train", "val", "test"))
    d = tmp_path / "empty" / "cmu"
    d.mkdir(parents=True)
    write_amass_npz(d / "03_01.npz", load_motion(list_motion_files(SAMPLE)[0]))
    assert paths.find_motion_dir() == d and paths.data_source() == "POSEKIT_DATA"


def test_data_card_on_the_sample_and_bad_files(tmp_path):
    root = tmp_path / "m"
    root.mkdir()
    for f in list_motion_files(SAMPLE)[:3]:
        (root / f.name).write_bytes(f.read_bytes())
    (root / "99_01.bvh").write_text("HIERARCHY\nROOT hip\n{\n")          # truncated: must be reported
    card = data_card(root, progress=False, cache=False)
    assert len(card.rows) == 4 and len(card.failures) == 1
    assert "99_01.bvh" in card.failures[0]["file"] and card.failures[0]["error"]
    text = format_card(card)
    assert "failures:" in text and "99_01.bvh" in text
    subj = {g["subject"]: g for g in per_subject(card)}
    assert sum(g["trials"] for g in subj.values()) == 3
    fr = {g["format"]: g for g in per_format(card)}
    assert fr["amass"]["minutes"] == pytest.approx(sum(r["frames"] for r in card.rows) / 30 / 60)


def test_report_cli(tmp_path):
    root = tmp_path / "m"
    root.mkdir()
    f = list_motion_files(SAMPLE)[0]
    (root / f.name).write_bytes(f.read_bytes())
    r = subprocess.run([sys.executable, "-m", "posekit.data", "report", "--motions", str(root)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Data card" in r.stdout and trial_key(f)[0] in r.stdout
    r = subprocess.run([sys.executable, "-m", "posekit.data", "report", "--motions", str(tmp_path / "nope")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not a folder" in r.stderr


def test_shipped_quality_record_covers_every_raw_file_of_the_shared_set(cmu_dir):
    rows = load_quality_record()
    raw = [p for p in list_motion_files(cmu_dir) if p.suffix.lower() in (".bvh", ".amc")]
    assert {r["file"] for r in rows} == {str(p.relative_to(cmu_dir)) for p in raw}
    assert {r["format"] for r in rows} >= {"asfamc", "bvh_cgspeed", "bvh_iclone", "bvh_secondlife"}


def test_download_shared_asks_for_every_trial_with_known_checksums(tmp_path, monkeypatch):
    from posekit.data import download as dl
    calls = []

    def fake(url, final, known, timeout, retries, bar=None):
        calls.append((url, known))
        final.parent.mkdir(parents=True, exist_ok=True)
        final.write_text("x")
        return {"sha256": "0", "size": 1}

    monkeypatch.setattr(dl, "_download_file", fake)
    shared = dl.shared_set_manifest()
    out = dl.download_cmu("shared", dest=tmp_path, progress=False)
    assert len(out) == len(shared["trials"]) >= 250
    urls = {u.split("/subjects/")[1]: k for u, k in calls}
    assert all(dl.cmu_trial_files(t)[1] in urls for t in shared["trials"])
    assert urls["135/135_02.amc"]["sha256"] == shared["files"]["135/135_02.amc"]["sha256"]
    assert urls["17/17_03.amc"] is None                      # the truncated copy's checksum is not CMU's
