"""Does generated motion stay on the floor? The figures that training, the tests, the benchmark and chapter 06
report for rollouts of the HuMoR-like prior (and, for comparison, for real motion).

The floor is the plane y = 0 of the model's world states (``HumorPrior.states_on_floor``).
"""
from __future__ import annotations

import torch

from .state import FOOT_JOINTS, unpack_state

__all__ = ["FLOOR_BAND", "UPRIGHT_DEGREES", "lowest_foot", "floor_stats"]

#: metres: a frame is "on the floor" when its lowest ankle/toe joint is this close to it (below, above)
FLOOR_BAND = (-0.05, 0.15)
#: a frame is "upright" when the pelvis' up axis is within this many degrees of the vertical
UPRIGHT_DEGREES = 45.0


def lowest_foot(model, x: torch.Tensor) -> torch.Tensor:
    """Height (..., ) above the floor of the lowest ankle/toe joint of states x (..., D)."""
    return model.fk_joints(x)[..., list(FOOT_JOINTS), 1].amin(-1)


def floor_stats(model, x: torch.Tensor) -> dict:
    """Figures (plain floats) of state sequences x (B, T, D) or (T, D):

    on_floor: fraction of frames whose lowest ankle/toe joint is within ``FLOOR_BAND`` of the floor;
    lowest_foot_min / lowest_foot_max: the extremes of that joint's height (m);
    upright: fraction of frames whose pelvis leans less than ``UPRIGHT_DEGREES``;
    speed: mean horizontal pelvis speed (m/s), to tell a body that walks on the floor from one that stands still.
    """
    if x.dim() == 2:
        x = x[None]
    h = lowest_foot(model, x)                                                          # (B, T)
    p = unpack_state(x)
    tilt = torch.rad2deg(torch.acos(p["root_R"][..., 1, 1].clamp(-1.0, 1.0)))          # (B, T)
    lo, hi = FLOOR_BAND
    return {"on_floor": float(((h > lo) & (h < hi)).float().mean()),
            "lowest_foot_min": float(h.min()), "lowest_foot_max": float(h.max()),
            "upright": float((tilt < UPRIGHT_DEGREES).float().mean()),
            "speed": float(p["root_vel"][..., [0, 2]].norm(dim=-1).mean())}
