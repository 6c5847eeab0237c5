"""SMPLify's energy terms against SMPLify's own formulas (fit_3d.py, chumpy residuals squared)."""
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
