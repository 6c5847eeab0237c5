"""The file conventions added to the shared CMU set in December 2026, each checked on a real file:
bone directions of the retargeted SMPL body against the source skeleton's own forward kinematics."""
import numpy as np
import pytest

from posekit.data import load_motion
from posekit.data.bvh import is_reference_frame, parse_bvh
from posekit.data.quality import retarget_quality

# file, rig, frames in the file (SOURCES.md), frames kept, first frame dropped
CASES = [
    ("bvh_cgspeed_motionbuilder/08_01.bvh", "cgspeed_motionbuilder", 278, 277, True),    # 2010 release
    ("bvh_secondlife_unscaled/12_01.bvh", "secondlife_poser", 524, 523, True),          # 128x offsets
    ("bvh_secondlife_scaled/60_01.bvh", "secondlife_poser", 2242, 2242, False),         # starts with motion
    ("asfamc/17_03.amc", "cmu_asf", 450, 450, False),                                   # truncated source
    ("asfamc/127_01.amc", "cmu_asf", None, None, False),                                # CRLF line endings
]


@pytest.mark.parametrize("rel,rig,n_file,n_kept,dropped", CASES, ids=[c[0].split("/")[0] for c in CASES])
def test_new_convention_loads_and_matches_its_source_skeleton(cmu_dir, rel, rig, n_file, n_kept, dropped):
    path = cmu_dir / rel
    m = load_motion(path)
    assert m.meta["rig"] == rig
    assert bool(m.meta.get("dropped_first_frame")) == dropped
    if n_file is not None:
        assert m.meta.get("frames_in_file", n_file) == n_file and len(m) == n_kept
    assert np.isfinite(m.poses.numpy()).all() and np.isfinite(m.trans.numpy()).all()
    # the pelvis stands at a human height in metres whatever the file's units (cm, CMU units, metres)
    from posekit.data.retarget import smpl_rest_joints
    pelvis_y = float(np.median(m.trans[:, 1].numpy())) + float(smpl_rest_joints()[0][1])   # J_0 + trans
    assert 0.4 < pelvis_y < 1.3, pelvis_y
    q = retarget_quality(path, max_frames=40)
    q0 = retarget_quality(path, max_frames=40, exact_directions=False)
    assert q["mean_deg"] < 0.1 and q["max_deg"] < 1.0      # limb bones follow the source bones
    assert q0["mean_deg"] < 3.0                             # and nearly do so from the rest alignment alone


def test_reference_frame_detection(cmu_dir):
    assert is_reference_frame(parse_bvh(cmu_dir / "bvh_secondlife_unscaled/12_01.bvh"))
    assert not is_reference_frame(parse_bvh(cmu_dir / "bvh_secondlife_scaled/60_01.bvh"))


def test_unscaled_and_scaled_second_life_share_units_after_loading(cmu_dir):
    """The unscaled rig's offsets are 128x the scaled one's: after unit detection both give metres."""
    a = parse_bvh(cmu_dir / "bvh_secondlife_unscaled/12_01.bvh")
    b = parse_bvh(cmu_dir / "bvh_secondlife_scaled/60_01.bvh")
    ratio = np.linalg.norm(a.offsets, axis=1).sum() / np.linalg.norm(b.offsets, axis=1).sum()
    assert 100 < ratio < 160
    ma, mb = load_motion(cmu_dir / "bvh_secondlife_unscaled/12_01.bvh"), load_motion(cmu_dir / "bvh_secondlife_scaled/60_01.bvh")
    step_a = np.median(np.linalg.norm(np.diff(ma.trans.numpy(), axis=0), axis=1)) * ma.fps
    step_b = np.median(np.linalg.norm(np.diff(mb.trans.numpy(), axis=0), axis=1)) * mb.fps
    assert 0.05 < step_a < 3.0 and 0.05 < step_b < 3.0      # walking / dancing speeds in m/s
