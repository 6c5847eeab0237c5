"""SMPLify's pieces against independent references: smplx, closed forms, brute force, scipy, finite differences."""
import math

import numpy as np
import pytest
import roma
import torch

from posekit.fitting import (
    KeypointMap, JointsForward, angle_prior, capsule_radii, estimate_depth, fit_errors, geman_mcclure,
    interpenetration_energy, joint_energy, perspective_projection, procrustes_align, segment_distance, shape_prior,
)
from posekit.fitting.capsules import SEGMENT_NAMES, SEGMENTS, capsule_pairs
from posekit.fitting.forward import shaped_rest
from posekit.fitting.losses import BEND_AXES, BEND_JOINTS, BEND_SIGNS, pose_prior_energy


@pytest.fixture(scope="module")
def body_model():
    from posekit.body import load_body_model

    return load_body_model()


def _pose(**joint_aa):
    """body_pose (1,69) with the given SMPL joints (index -> axis-angle) set."""
    p = torch.zeros(1, 23, 3)
    for j, aa in joint_aa.items():
        p[0, int(j[1:]) - 1] = torch.tensor(aa, dtype=torch.float32)
    return p.reshape(1, 69)


def test_joints_forward_matches_smplx(body_model):
    g = torch.Generator().manual_seed(0)
    B = 3
    betas = torch.randn(B, 10, generator=g)
    orient = torch.randn(B, 3, generator=g)
    pose = 0.4 * torch.randn(B, 69, generator=g)
    transl = torch.randn(B, 3, generator=g)
    ids = [0, 17, body_model.v_template.shape[0] - 1]
    j, v = JointsForward(body_model, ids)(betas, orient, pose, transl)
    out = body_model(betas=betas, global_orient=orient, body_pose=pose, transl=transl)
    torch.testing.assert_close(j, out.joints[:, :24], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(v, out.vertices[:, ids], atol=1e-5, rtol=1e-5)


def test_head_top_is_the_highest_head_vertex(body_model):
    kmap = KeypointMap(body_model)
    vid = kmap.vertex_ids[0]
    v = body_model.v_template
    head = body_model.lbs_weights.argmax(1) == 15
    assert head[vid]
    assert v[vid, 1] >= v[head, 1].max() - 1e-7
    assert v[vid, 1] > body_model.J_regressor[15] @ v[:, 1]          # above the head joint


def test_perspective_projection_closed_form():
    pts = torch.tensor([[[0.5, -0.2, 4.0], [0.0, 0.0, 2.0]]])
    f = torch.tensor([1000.0])
    c = torch.tensor([[320.0, 240.0]])
    got = perspective_projection(pts, f, c)
    want = torch.tensor([[[320 + 1000 * 0.5 / 4, 240 - 1000 * 0.2 / 4], [320.0, 240.0]]])
    torch.testing.assert_close(got, want)


def test_geman_mcclure_and_joint_energy_closed_form():
    sigma = 100.0
    r = torch.tensor([[0.0, 0.0], [100.0, 0.0], [3.0, 4.0], [1e6, 0.0]])
    torch.testing.assert_close(geman_mcclure(r, sigma),
                               torch.tensor([0.0, sigma ** 2 / 2, sigma ** 2 * 25 / (sigma ** 2 + 25), sigma ** 2]),
                               rtol=1e-5, atol=1e-3)
    proj = torch.tensor([[[3.0, 4.0], [0.0, 100.0]]])
    kp = torch.zeros(1, 2, 2)
    conf = torch.tensor([[0.5, 2.0]])
    want = 0.5 * sigma ** 2 * 25 / (sigma ** 2 + 25) + 2.0 * sigma ** 2 / 2
    torch.testing.assert_close(joint_energy(proj, kp, conf, sigma), torch.tensor([want]))


def test_shape_prior_and_prior_dispatch():
    b = torch.tensor([[1.0, -2.0, 0.5]])
    torch.testing.assert_close(shape_prior(b), torch.tensor([5.25]))
    x = torch.randn(2, 63)
    assert torch.equal(pose_prior_energy(None, x), torch.zeros(2))

    class DistanceOnly:
        def distance(self, pose):
            return pose.reshape(pose.shape[0], -1).norm(dim=-1)

    torch.testing.assert_close(pose_prior_energy(DistanceOnly(), x), x.norm(dim=-1))
    with pytest.raises(TypeError, match="protocol"):
        pose_prior_energy(object(), x)


@pytest.mark.parametrize("k", range(4))
def test_bend_signs_penalise_only_unnatural_bending(body_model, k):
    """Re-derive each sign from the model: a natural bend moves the wrist forward (+z, the model
    faces +z) when the arm is held out in the T-pose, and the ankle backward (−z) for a knee."""
    joint, axis, sign = BEND_JOINTS[k], BEND_AXES[k], BEND_SIGNS[k]
    end = {18: 20, 19: 21, 4: 7, 5: 8}[joint]
    forward_is_natural = joint in (18, 19)
    aa = [0.0, 0.0, 0.0]
    aa[axis] = -sign * 0.6                      # claimed natural direction: s·θ < 0
    natural = _pose(**{f"j{joint}": aa})
    aa[axis] = sign * 0.6
    unnatural = _pose(**{f"j{joint}": aa})
    z = lambda p: body_model(body_pose=p).joints[0, end, 2].item()
    z0 = z(torch.zeros(1, 69))
    if forward_is_natural:
        assert z(natural) > z0 + 0.05 and z(unnatural) < z0 - 0.05
    else:
        assert z(natural) < z0 - 0.05 and z(unnatural) > z0 + 0.05
    e0 = angle_prior(torch.zeros(1, 69)).item()
    assert angle_prior(natural).item() < e0 < angle_prior(unnatural).item()
    torch.testing.assert_close(angle_prior(unnatural) - angle_prior(natural),
                               torch.tensor([math.exp(1.2) - math.exp(-1.2)]))   # SMPLify's squared residual exp(2sθ)


def _brute_segment_distance(p1, q1, p2, q2, n=801):
    s = torch.linspace(0, 1, n, dtype=torch.float64)
    a = p1 + s[:, None] * (q1 - p1)
    b = p2 + s[:, None] * (q2 - p2)
    return torch.cdist(a, b).min()


def test_segment_distance_against_brute_force():
    g = torch.Generator().manual_seed(1)
    P = torch.randn(40, 4, 3, generator=g, dtype=torch.float64)
    P[:5, 3] = P[:5, 2] + 2 * (P[:5, 1] - P[:5, 0])           # parallel pairs
    P[5:8, 1] = P[5:8, 0]                                       # a degenerate segment (a point)
    d = segment_distance(P[:, 0], P[:, 1], P[:, 2], P[:, 3])
    ref = torch.stack([_brute_segment_distance(*p) for p in P])
    torch.testing.assert_close(d, ref, atol=2e-3, rtol=0)
    assert torch.all(d <= ref + 1e-9)                          # brute force samples can only overestimate


def test_capsule_pairs_exclude_neighbours():
    names = [(SEGMENT_NAMES[i], SEGMENT_NAMES[k]) for i, k in capsule_pairs()]
    assert ("l_thigh", "l_shin") not in names and ("l_upperarm", "l_forearm") not in names
    assert ("torso", "l_thigh") not in names                    # pelvis -> hip: adjacent
    assert ("l_forearm", "r_forearm") in names and ("l_thigh", "r_thigh") in names
    assert ("torso", "l_forearm") in names and ("torso", "l_upperarm") in names


def _posed_energy(body_model, pose):
    vs, js = shaped_rest(body_model, torch.zeros(1, 10))
    radii = capsule_radii(vs, js, body_model.lbs_weights)
    joints = body_model(body_pose=pose).joints[:, :24]
    return interpenetration_energy(joints, radii), radii


def test_capsule_radii_are_plausible(body_model):
    vs, js = shaped_rest(body_model, torch.zeros(1, 10))
    r = dict(zip(SEGMENT_NAMES, capsule_radii(vs, js, body_model.lbs_weights)[0].tolist()))
    assert 0.02 < r["l_forearm"] < r["l_upperarm"] < r["l_thigh"] < 0.15
    assert r["torso"] > r["l_thigh"]
    # the radii follow the shape: another beta vector gives other radii
    vs2, js2 = shaped_rest(body_model, torch.tensor([[0.0, 3.0] + [0.0] * 8]))
    assert not torch.allclose(capsule_radii(vs2, js2, body_model.lbs_weights), torch.tensor([list(r.values())]))


def test_crossed_arms_and_legs_raise_interpenetration(body_model):
    half = math.pi / 2
    standing = _pose(j16=[0, 0, -1.2], j17=[0, 0, 1.2])                           # arms down
    crossed_arms = _pose(j16=[0, -half, 0], j18=[0, -half, 0], j17=[0, half, 0], j19=[0, half, 0])
    crossed_legs = _pose(j1=[0, 0, -0.4], j2=[0, 0, 0.4])
    e_t, _ = _posed_energy(body_model, torch.zeros(1, 69))
    e_s, _ = _posed_energy(body_model, standing)
    e_a, _ = _posed_energy(body_model, crossed_arms)
    e_l, _ = _posed_energy(body_model, crossed_legs)
    assert e_a.item() > 1e-3 and e_l.item() > 1e-3
    assert e_a.item() > 10 * max(e_t.item(), e_s.item(), 1e-5)
    assert e_l.item() > 10 * max(e_t.item(), e_s.item(), 1e-5)


def test_interpenetration_gradient_matches_finite_differences(body_model):
    _, radii = _posed_energy(body_model, torch.zeros(1, 69))
    j = body_model(body_pose=_pose(j1=[0, 0, -0.4], j2=[0, 0, 0.4])).joints[:, :24].detach().double()
    j = j + 0.01 * torch.randn(j.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    j.requires_grad_(True)
    radii = radii.double()
    g, = torch.autograd.grad(interpenetration_energy(j, radii).sum(), j)
    assert g.abs().max() > 0
    eps = 1e-6
    for joint in (1, 4, 2, 5):
        for ax in range(3):
            d = torch.zeros_like(j)
            d[0, joint, ax] = eps
            fd = (interpenetration_energy(j + d, radii) - interpenetration_energy(j - d, radii)) / (2 * eps)
            assert abs(fd.item() - g[0, joint, ax].item()) < 1e-5


def test_depth_from_torso_length_is_exact_for_a_fronto_parallel_torso():
    torso3d = torch.tensor([[[-0.1, 0.0, 0.0], [0.1, 0.0, 0.0], [-0.18, -0.5, 0.0], [0.18, -0.5, 0.0]]])
    z, f = 4.0, torch.tensor([1200.0])
    kp2d = perspective_projection(torso3d + torch.tensor([0.3, 0.1, z]), f, torch.zeros(1, 2))
    torch.testing.assert_close(estimate_depth(torso3d, kp2d, torch.ones(1, 4), f), torch.tensor([z]))
    # one side hidden: the other side alone gives the same depth
    torch.testing.assert_close(estimate_depth(torso3d, kp2d, torch.tensor([[1.0, 0.0, 1.0, 0.0]]), f),
                               torch.tensor([z]))


def test_procrustes_closed_form_and_scipy():
    from scipy.spatial import procrustes as scipy_procrustes

    g = torch.Generator().manual_seed(0)
    X = torch.randn(2, 30, 3, generator=g, dtype=torch.float64)
    R = roma.random_rotmat(2, dtype=torch.float64)
    Y = 1.7 * X @ R.transpose(1, 2) + torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(procrustes_align(X, Y), Y)                 # exact similarity recovered
    Yn = Y + 0.05 * torch.randn(Y.shape, generator=g, dtype=torch.float64)
    aligned = procrustes_align(X, Yn)
    for b in range(2):
        _, _, disparity = scipy_procrustes(Yn[b].numpy(), X[b].numpy())
        yc = Yn[b] - Yn[b].mean(0)
        ours = (((aligned[b] - Yn[b].mean(0)) - yc) ** 2).sum() / (yc ** 2).sum()
        np.testing.assert_allclose(ours.item(), disparity, rtol=1e-6)


def test_fit_errors_are_invariant_to_what_they_remove():
    g = torch.Generator().manual_seed(2)
    v, j = torch.randn(2, 50, 3, generator=g), torch.randn(2, 24, 3, generator=g)
    shift = torch.tensor([0.0, 0.0, 1.0])
    e = fit_errors(v + shift, j + shift, v, j)                          # pure translation: all zero
    for k in ("v2v_mm", "mpjpe_mm", "v2v_pa_mm", "mpjpe_pa_mm"):
        assert e[k].abs().max() < 1e-3, k
    R = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.5, 0.0]))
    e = fit_errors(v @ R.T, j @ R.T, v, j)                              # rotation: only PA removes it
    assert e["v2v_pa_mm"].max() < 1e-2 and e["v2v_mm"].min() > 10


def test_capsule_radii_of_a_few_vertices_equal_those_of_the_whole_mesh(body_model):
    """CapsuleRadii (the quantile's vertices only, used inside SMPLify) = capsule_radii of the whole shaped rest mesh:
    the same values, and the same gradient in β (the reference: autograd through torch.quantile on every vertex)."""
    from posekit.fitting.capsules import CapsuleRadii

    radii_of = CapsuleRadii(body_model)
    g = torch.Generator().manual_seed(3)
    nb = body_model.shapedirs.shape[-1]
    for scale in (0.0, 1.0, 3.0):
        betas = (scale * torch.randn(4, nb, generator=g)).requires_grad_(True)
        w = torch.randn(4, len(SEGMENT_NAMES), generator=g)
        ref = capsule_radii(*shaped_rest(body_model, betas), body_model.lbs_weights)
        (g_ref,) = torch.autograd.grad((ref * w).sum(), betas)
        got = radii_of(betas)
        (g_got,) = torch.autograd.grad((got * w).sum(), betas)
        torch.testing.assert_close(got, ref, rtol=0, atol=1e-7)
        torch.testing.assert_close(g_got, g_ref, rtol=1e-4, atol=1e-7)
        assert g_ref.abs().max() > 1e-4                                        # the radii do depend on β
    # the median of an even number of distances interpolates two vertices: another quantile too
    q = CapsuleRadii(body_model, quantile=0.3)(torch.zeros(1, nb))
    vs, js = shaped_rest(body_model, torch.zeros(1, nb))
    torch.testing.assert_close(q, capsule_radii(vs, js, body_model.lbs_weights, quantile=0.3), rtol=0, atol=1e-7)
