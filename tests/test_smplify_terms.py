"""SMPLify's energy terms against SMPLify's own formulas (fit_3d.py, chumpy residuals squared)."""
import math

import pytest
import torch

from posekit.fitting import angle_prior
from posekit.fitting.smplify import SMPLifyConfig


def smplify_angle_energy(pose72: torch.Tensor, w: float) -> torch.Tensor:
    """SMPLify: residual 0.317·w·alpha·exp([θ55, −θ58, −θ12, −θ15]), alpha = 10; chumpy minimises its square."""
    alpha = 10.0
    r = 0.317 * w * alpha * torch.exp(torch.stack([pose72[:, 55], -pose72[:, 58], -pose72[:, 12], -pose72[:, 15]], -1))
    return (r ** 2).sum(-1)


def test_angle_term_equals_smplify_energy():
    g = torch.Generator().manual_seed(0)
    pose72 = torch.randn(16, 72, generator=g, dtype=torch.float64) * 0.8
    body_pose = pose72[:, 3:66]                                  # 21 body joints, (B, 63)
    cfg = SMPLifyConfig()
    for w in (404.0, 57.4, 4.78):
        ours = (cfg.angle_weight * w) ** 2 * angle_prior(body_pose)
        torch.testing.assert_close(ours, smplify_angle_energy(pose72, w), rtol=1e-10, atol=0)
    assert not torch.allclose(angle_prior(body_pose, squared=False), angle_prior(body_pose))


# ---------------------------------------------------------------- E_sp: SMPLify's Gaussian spheres


def test_sphere_energy_closed_form_for_two_capsules():
    """Two capsules (left/right forearm, not neighbours) as parallel segments at distance d: every sphere
    pair contributes exp(−2‖c_i − c_j‖² / (r_a² + r_b²)); compare with the sum written out by hand."""
    from posekit.fitting.capsules import SEGMENTS, sphere_energy

    S = len(SEGMENTS)
    a, b = SEGMENTS.index((18, 20)), SEGMENTS.index((19, 21))
    joints = torch.zeros(1, 24, 3)
    for j in range(24):                                  # every other joint far away from each other
        joints[0, j] = torch.tensor([10.0 * j, 0.0, 0.0])
    d, L = 0.05, 0.3
    joints[0, 18], joints[0, 20] = torch.tensor([0.0, 0.0, 0.0]), torch.tensor([0.0, L, 0.0])
    joints[0, 19], joints[0, 21] = torch.tensor([d, 0.0, 0.0]), torch.tensor([d, L, 0.0])
    radii = torch.full((1, S), 0.04)
    n = 3
    t = (torch.arange(n) + 0.5) / n * L
    ref = sum(math.exp(-2 * (d ** 2 + (float(ti) - float(tj)) ** 2) / (2 * 0.04 ** 2)) for ti in t for tj in t)
    got = float(sphere_energy(joints, radii, pairs=[(a, b)], n=n))
    assert got == pytest.approx(ref, rel=1e-5)
    far = joints.clone()
    far[0, 19, 0] = far[0, 21, 0] = 0.2
    assert float(sphere_energy(far, radii, pairs=[(a, b)], n=n)) < got


def test_sphere_energy_depends_on_shape():
    """E_sp of a posed body depends on β through the radii (shaped rest mesh) and the joints."""
    from posekit.body import load_body_model
    from posekit.fitting.capsules import capsule_radii, sphere_energy
    from posekit.fitting.forward import full_forward, shaped_rest

    bm = load_body_model(device="cpu")
    betas = torch.zeros(1, bm.shapedirs.shape[-1], requires_grad=True)
    pose = torch.zeros(1, 69)
    pose[0, 15 * 3 + 2] = -1.2                          # left shoulder down: the arm near the torso
    _, j = full_forward(bm, betas, torch.zeros(1, 3), pose, torch.zeros(1, 3))
    vs, js = shaped_rest(bm, betas)
    e = sphere_energy(j, capsule_radii(vs, js, bm.lbs_weights))
    e.sum().backward()
    assert float(e) > 0 and betas.grad.abs().max() > 0


def test_a_stage_stops_at_the_last_finite_point():
    """A step into a region where the energy is not finite (NaN) is refused; the image stays where it is finite."""
    from posekit.fitting.smplify import SMPLifyConfig, _minimise

    x = torch.tensor([[2.0], [2.0]])

    def energy(parts, rows):
        (v,) = parts
        wall = torch.where(v[:, 0] < 1.5, torch.full_like(v[:, 0], float("nan")), torch.zeros_like(v[:, 0]))
        e = (v[:, 0] - 1.0) ** 2 + torch.where(rows == 0, wall, torch.zeros_like(wall))
        return {"total": e}

    _minimise([x], energy, 20, SMPLifyConfig(optimizer="lbfgs"))
    assert torch.isfinite(x).all() and 1.5 <= float(x[0]) < 2.0      # moved towards the wall, never through it
    assert abs(float(x[1]) - 1.0) < 1e-3                              # the other image is not held back
