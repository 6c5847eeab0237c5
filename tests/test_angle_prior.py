"""SMPLify's bend term E_a on the open body model: its signs checked on the mesh (smplx's forward), on real
motion, and the measurements script's helpers (benchmarks/angle_prior.py)."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from posekit.fitting import angle_prior
from posekit.fitting.losses import BEND_AXES, BEND_JOINTS, BEND_SIGNS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "posekit" / "data" / "sample" / "cmu"
#: the joint each bend moves (SMPL tree): elbow -> wrist, knee -> ankle
CHILD = {18: 20, 19: 21, 4: 7, 5: 8}


@pytest.fixture(scope="module")
def body_model():
    from posekit.body import load_body_model

    return load_body_model()


def _bent(joint: int, axis: int, value: float, batch: int = 1) -> torch.Tensor:
    p = torch.zeros(batch, 69)
    p[:, 3 * (joint - 1) + axis] = value
    return p


def _moved_vertices(body_model, joint: int) -> torch.Tensor:
    """Vertices skinned mostly to the bent joint or its child (the shin and foot / the forearm and hand)."""
    w = body_model.lbs_weights                                                # (V,24)
    return torch.nonzero(torch.isin(w.argmax(1), torch.tensor([joint, CHILD[joint]]))).flatten()


@pytest.mark.parametrize("k", range(4))
def test_natural_bend_on_the_mesh_is_the_unpenalised_direction(body_model, k):
    """Bend each joint both ways by several angles through smplx's forward: the natural direction (s·θ < 0)
    moves the shin and foot backwards (−z; the model faces +z) for a knee, the forearm and hand forwards
    (+z) for an elbow held out in the T-pose, and lowers E_a below its rest value; the other direction
    (hyper-extension) moves them the other way and raises E_a."""
    joint, axis, s = BEND_JOINTS[k], BEND_AXES[k], BEND_SIGNS[k]
    ids = _moved_vertices(body_model, joint)
    assert len(ids) > 10
    forward_is_natural = joint in (18, 19)
    mags = torch.tensor([0.3, 0.6, 1.0, 1.4])
    with torch.no_grad():
        rest = body_model(body_pose=torch.zeros(1, 69))
        z0 = rest.vertices[0, ids, 2].mean()
        e0 = angle_prior(torch.zeros(1, 69))
        for direction in (-1.0, 1.0):                                         # s·θ = direction · magnitude
            poses = torch.cat([_bent(joint, axis, direction * float(m) / s) for m in mags])
            n = len(mags)
            out = body_model(body_pose=poses, betas=torch.zeros(n, body_model.num_betas),
                             global_orient=torch.zeros(n, 3), transl=torch.zeros(n, 3))
            dz = out.vertices[:, ids, 2].mean(1) - z0                         # (4,) metres
            dz_end = out.joints[:, CHILD[joint], 2] - rest.joints[0, CHILD[joint], 2]
            natural = direction < 0
            moves_forward = natural == forward_is_natural
            for d in (dz, dz_end):
                assert ((d > 0.02) if moves_forward else (d < -0.02)).all(), (joint, direction, d)
            e = angle_prior(poses)
            torch.testing.assert_close(e - e0, torch.exp(2 * direction * mags) - 1.0)
            assert ((e < e0) if natural else (e > e0)).all()


def test_gradient_descent_on_the_bend_prior_bends_knees_backwards(body_model):
    """−∇E_a at the rest pose (what every stage of a rest-pose start feels first) moves both ankles backwards
    and both wrists forwards: the prior pulls towards natural bends, by 2·s per joint."""
    p = torch.zeros(1, 69, requires_grad=True)
    angle_prior(p).sum().backward()
    g = p.grad.reshape(23, 3)
    for j, a, s in zip(BEND_JOINTS, BEND_AXES, BEND_SIGNS):
        assert g[j - 1, a].item() == pytest.approx(2 * s)
    assert torch.count_nonzero(g) == 4
    with torch.no_grad():
        z0 = body_model(body_pose=torch.zeros(1, 69)).joints[0, :, 2]
        z = body_model(body_pose=-0.3 * p.grad).joints[0, :, 2]
    assert (z[[7, 8]] < z0[[7, 8]] - 0.05).all()                              # ankles back
    assert (z[[20, 21]] > z0[[20, 21]] + 0.02).all()                          # wrists forward


def _sample_poses(split: str) -> torch.Tensor:
    poses = []
    for f in sorted(SAMPLE.glob("*.npz")):
        d = np.load(f)
        if str(d["split"]) == split:
            poses.append(torch.as_tensor(d["poses"][:, 3:66], dtype=torch.float32))
    if not poses:
        pytest.skip(f"no {split} clips in the embedded sample")
    return torch.cat(poses)


def test_real_validation_poses_are_rarely_penalised():
    """Real motion (the embedded sample's validation clips, retargeted CMU): elbows and knees bend the way
    E_a lets them (s·θ > 0 in under 5 % of frames, elbows never by more than a few degrees), and E_a of real
    poses is well below its rest-pose value 4, so the signs fit this model's rig and the retargeted data."""
    x = _sample_poses("val")
    assert len(x) > 100
    b21 = x.reshape(-1, 21, 3)
    st = torch.stack([s * b21[:, j - 1, a] for j, a, s in zip(BEND_JOINTS, BEND_AXES, BEND_SIGNS)], -1)   # (N,4)
    penalised = (st > 0).float().mean(0)
    assert (penalised < 0.05).all(), penalised
    assert (st[:, :2] < math.radians(5)).all()                                # elbows
    assert (st.median(0).values < -math.radians(10)).all()                    # typically bent the natural way
    e = angle_prior(x)
    assert e.median() < 2.0 < 4.0 == pytest.approx(float(angle_prior(torch.zeros(1, 63))))


def _bench():
    spec = importlib.util.spec_from_file_location("angle_prior_bench", ROOT / "benchmarks" / "angle_prior.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_helpers():
    """The measurement script: bend angles s·θ, the paired bootstrap interval, and its rig table (every
    penalised direction is hyper-extension on the loaded model)."""
    mod = _bench()
    p = torch.zeros(2, 69)
    p[1, 3 * 3 + 0] = 0.7                                                     # left knee (4) flexed by 0.7 rad
    b = mod.bend_angles(p)
    assert b.shape == (2, 4)
    torch.testing.assert_close(b[1], torch.tensor([0.0, 0.0, -0.7, 0.0]))
    mu, lo, hi = mod.paired_ci(torch.full((40,), 2.5), n_boot=200)
    assert mu == lo == hi == pytest.approx(2.5)
    d = torch.randn(64, generator=torch.Generator().manual_seed(0)) + 1.0
    mu, lo, hi = mod.paired_ci(d, n_boot=2000)
    assert lo < mu < hi and lo > 0.5 and hi < 1.6
    from posekit.body import load_body_model

    lines = []
    mod.section_rig(load_body_model(), lines.append)
    rows = [ln for ln in lines if ln.startswith("| ") and ("elbow" in ln or "knee" in ln)]
    assert len(rows) == 4 and all(ln.rstrip().endswith("| yes |") for ln in rows)
