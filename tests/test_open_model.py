"""The shipped open body model (posekit/body/models/open_smpl_neutral.npz) against SMPL's layout,
plain smplx, an independent numpy LBS, and (when anny is installed) anny itself.

Nothing here goes through posekit's loaders: the file is read with numpy and smplx only.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

smplx = pytest.importorskip("smplx")
from smplx.utils import Struct  # noqa: E402

MODEL = Path(__file__).resolve().parent.parent / "posekit" / "body" / "models" / "open_smpl_neutral.npz"
VERTEX_IDS = MODEL.with_name(MODEL.stem + "_vertex_ids.json")

SMPL_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
# SMPL's kinematic tree, written out here on purpose (not imported from posekit)
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
MIRROR = [SMPL_NAMES.index(n.replace("left", "RIGHT").replace("right", "left").replace("RIGHT", "right"))
          for n in SMPL_NAMES]
HAS_ANNY = importlib.util.find_spec("anny") is not None


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    with np.load(MODEL) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def smpl(arrays):
    ids = json.loads(VERTEX_IDS.read_text())
    return smplx.SMPL(model_path=str(MODEL), data_struct=Struct(**arrays), vertex_ids=ids,
                      dtype=torch.float64)


def test_exactly_smpl_layout(arrays):
    V = arrays["v_template"].shape[0]
    expected = {
        "v_template": (V, 3), "shapedirs": (V, 3, 10), "posedirs": (V, 3, 207),
        "J_regressor": (24, V), "weights": (V, 24), "kintree_table": (2, 24),
    }
    assert set(arrays) == set(expected) | {"f"}
    for k, shape in expected.items():
        assert arrays[k].shape == shape, k
    for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        assert arrays[k].dtype == np.float32, k
        assert np.isfinite(arrays[k]).all(), k
    f = arrays["f"]
    assert f.ndim == 2 and f.shape[1] == 3 and np.issubdtype(f.dtype, np.integer)
    assert f.min() == 0 and f.max() == V - 1  # every vertex used, none out of range
    kt = arrays["kintree_table"]
    assert kt[0, 0] == 4294967295  # SMPL's own root marker
    assert kt[0, 1:].tolist() == SMPL_PARENTS[1:]
    assert kt[1].tolist() == list(range(24))
    assert 1000 <= V <= 2000  # the small decimated variant
    assert MODEL.stat().st_size < 2_000_000


def test_smplx_zero_pose_is_template(arrays, smpl):
    out = smpl()
    v = arrays["v_template"].astype(np.float64)
    J = arrays["J_regressor"].astype(np.float64) @ v
    np.testing.assert_allclose(out.vertices[0].detach().numpy(), v, atol=1e-6)
    np.testing.assert_allclose(out.joints[0, :24].detach().numpy(), J, atol=1e-6)
    assert out.joints.shape[1] == 24 + 21  # smplx's extra keypoints found on this mesh


def _rodrigues(rotvecs: np.ndarray) -> np.ndarray:
    return Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_matrix().reshape(*rotvecs.shape[:-1], 3, 3)


def numpy_lbs(arrays, betas, pose, transl):
    """SMPL's equations from the paper, in numpy: M = W(T_P(b, p), J(b), p, weights)."""
    a = {k: arrays[k].astype(np.float64) for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights")}
    parents = arrays["kintree_table"][0].astype(np.int64)
    v_shaped = a["v_template"] + np.einsum("vck,k->vc", a["shapedirs"], betas)
    J = a["J_regressor"] @ v_shaped
    R = _rodrigues(pose.reshape(24, 3))
    feat = (R[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + np.einsum("vcp,p->vc", a["posedirs"], feat)
    G = np.zeros((24, 4, 4))
    for j in range(24):
        local = np.eye(4)
        local[:3, :3] = R[j]
        local[:3, 3] = J[j] - (J[parents[j]] if j > 0 else 0.0)
        G[j] = local if j == 0 else G[parents[j]] @ local
    posed_joints = G[:, :3, 3].copy()
    G[:, :3, 3] -= np.einsum("jab,jb->ja", G[:, :3, :3], J)
    T = np.einsum("vj,jab->vab", a["weights"], G)
    v = np.einsum("vab,vb->va", T[:, :3, :3], v_posed) + T[:, :3, 3]
    return v + transl, posed_joints + transl


def test_independent_numpy_lbs_matches_smplx(arrays, smpl):
    rng = np.random.default_rng(7)
    for _ in range(3):
        betas = rng.normal(size=10)
        pose = rng.normal(scale=0.4, size=72)
        transl = rng.normal(scale=0.5, size=3)
        v_ref, j_ref = numpy_lbs(arrays, betas, pose, transl)
        t = lambda x: torch.as_tensor(x, dtype=torch.float64)[None]  # noqa: E731
        out = smpl(betas=t(betas), global_orient=t(pose[:3]), body_pose=t(pose[3:]), transl=t(transl))
        np.testing.assert_allclose(out.vertices[0].detach().numpy(), v_ref, atol=1e-6)
        np.testing.assert_allclose(out.joints[0, :24].detach().numpy(), j_ref, atol=1e-6)


def test_template_is_mirror_symmetric(arrays):
    v = arrays["v_template"].astype(np.float64)
    mirrored = v * np.array([-1.0, 1.0, 1.0])
    dist, nn = cKDTree(v).query(mirrored)
    print(f"\ntemplate mirror-x symmetry: mean {dist.mean() * 1000:.3f} mm, max {dist.max() * 1000:.3f} mm")
    assert dist.max() < 2e-3
    J = arrays["J_regressor"].astype(np.float64) @ v
    Jm = J[MIRROR] * np.array([-1.0, 1.0, 1.0])
    print(f"joint mirror-x symmetry: max {np.abs(Jm - J).max() * 1000:.3f} mm")
    np.testing.assert_allclose(Jm, J, atol=2e-3)
    # skinning weights are symmetric too: a vertex's left groups are its mirror's right groups
    w = arrays["weights"].astype(np.float64)
    np.testing.assert_allclose(w[nn][:, MIRROR], w, atol=0.05)


def test_posed_model_is_mirror_symmetric(arrays, smpl):
    """M(mirror pose) = mirror(M(pose)): weights, regressor, kinematics and pose blend shapes together."""
    v = arrays["v_template"].astype(np.float64)
    nn = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))[1]
    rng = np.random.default_rng(11)
    errs = []
    for _ in range(5):
        pose = rng.normal(scale=0.4, size=(24, 3))
        mirrored = pose[MIRROR] * np.array([1.0, -1.0, -1.0])  # axis-angle reflected through x = 0
        a = smpl(global_orient=torch.as_tensor(pose[:1]), body_pose=torch.as_tensor(pose[1:].reshape(1, -1)))
        b = smpl(global_orient=torch.as_tensor(mirrored[:1]), body_pose=torch.as_tensor(mirrored[1:].reshape(1, -1)))
        va, vb = a.vertices[0].detach().numpy(), b.vertices[0].detach().numpy()
        errs.append(np.linalg.norm(va * np.array([-1.0, 1.0, 1.0]) - vb[nn], axis=1))
    err = np.concatenate(errs) * 1000
    print(f"\nposed mirror symmetry: mean {err.mean():.3f} mm, max {err.max():.3f} mm")
    assert err.mean() < 0.5 and err.max() < 3.0


def test_axes_left_up_forward(arrays):
    v = arrays["v_template"].astype(np.float64)
    J = arrays["J_regressor"].astype(np.float64) @ v
    ix = {n: i for i, n in enumerate(SMPL_NAMES)}
    for n in SMPL_NAMES:
        if n.startswith("left_"):
            # (anny's collar is the sternoclavicular joint, 2 cm off the midline)
            assert J[ix[n], 0] > 0.015, n
            assert J[ix[n.replace("left", "right")], 0] < -0.015, n
    # y up, metres: head well above the pelvis, feet well below, a human-sized body
    assert J[ix["head"], 1] - J[ix["pelvis"], 1] > 0.4
    assert J[ix["left_ankle"], 1] < J[ix["left_knee"], 1] < J[ix["left_hip"], 1] < J[ix["pelvis"], 1]
    assert 1.4 < v[:, 1].max() - v[:, 1].min() < 2.0
    # facing +z: above the neck the most forward vertex is on the midline (the nose), in front
    # of the head joint; the toes point forward of the ankles
    above = np.flatnonzero(v[:, 1] > J[ix["neck"], 1] + 0.05)
    nose = above[v[above, 2].argmax()]
    assert abs(v[nose, 0]) < 0.01 and v[nose, 2] > J[ix["head"], 2] + 0.05
    assert J[ix["left_foot"], 2] > J[ix["left_ankle"], 2] + 0.05
    # T-pose: arms straight out along +-x at shoulder height
    for side, sign in (("left", 1.0), ("right", -1.0)):
        arm = J[ix[f"{side}_wrist"]] - J[ix[f"{side}_shoulder"]]
        assert sign * arm[0] > 0.35 and abs(arm[1]) < 0.02 and abs(arm[2]) < 0.02, side


@pytest.mark.parametrize("side", ["left", "right"])
def test_positive_knee_bend_moves_ankle_backwards(smpl, side):
    knee, ankle = SMPL_NAMES.index(f"{side}_knee"), SMPL_NAMES.index(f"{side}_ankle")
    rest = smpl().joints[0].detach()
    body_pose = torch.zeros(1, 69, dtype=torch.float64)
    body_pose[0, 3 * (knee - 1)] = 1.0  # +1 rad about the knee's x axis
    bent = smpl(body_pose=body_pose).joints[0].detach()
    move = (bent[ankle] - rest[ankle]).numpy()
    assert move[2] < -0.2  # backwards
    assert move[1] > 0.1  # and up: a real knee flexion
    assert abs(move[0]) < 1e-6
    np.testing.assert_allclose(bent[:knee + 1].numpy(), rest[:knee + 1].numpy(), atol=1e-9)


def test_every_shape_direction_is_a_plausible_human(arrays):
    v = arrays["v_template"].astype(np.float64)
    D = arrays["shapedirs"].astype(np.float64)
    heights = {}
    for k in range(10):
        for s in (-2.0, 2.0):
            vk = v + s * D[:, :, k]
            heights[(k, s)] = h = vk[:, 1].max() - vk[:, 1].min()
            assert 1.4 <= h <= 2.1, (k, s, h)
            assert np.isfinite(vk).all()
    print("\nheights at beta_k = -2 / +2 (m): " + ", ".join(
        f"{k}: {heights[(k, -2.0)]:.3f}/{heights[(k, 2.0)]:.3f}" for k in range(10)))
    # PCA directions: mutually orthogonal, sorted by decreasing variance
    G = D.reshape(-1, 10).T @ D.reshape(-1, 10)
    off = G - np.diag(np.diag(G))
    assert np.abs(off).max() < 1e-4 * np.diag(G).max()
    assert np.all(np.diff(np.diag(G)) <= 1e-12)
    # the first direction is mostly height: it changes stature by more than 20 cm over +-2
    assert abs(heights[(0, 2.0)] - heights[(0, -2.0)]) > 0.2


def test_skinning_weights(arrays):
    w = arrays["weights"].astype(np.float64)
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    assert (w.max(0) > 0.3).all()  # every joint moves some vertices (anny's collars are weak: ~0.45)
    assert (np.bincount(w.argmax(1), minlength=24) >= 2).all()  # and dominates a few
    # the vertex farthest along +x (left fingertips) follows the left hand / wrist
    tip = arrays["v_template"][:, 0].argmax()
    assert w[tip, SMPL_NAMES.index("left_hand")] + w[tip, SMPL_NAMES.index("left_wrist")] > 0.99
    # the lowest vertices (soles) follow the feet and ankles
    low = np.argsort(arrays["v_template"][:, 1])[:10]
    feet = [SMPL_NAMES.index(n) for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
    assert (w[low][:, feet].sum(1) > 0.99).all()


def test_joint_regressor_sparse_nonnegative_affine(arrays):
    R = arrays["J_regressor"].astype(np.float64)
    assert (R >= 0).all()
    np.testing.assert_allclose(R.sum(1), 1.0, atol=1e-5)
    nnz = (R > 0).sum(1)
    assert (nnz >= 2).all() and (nnz <= 64).all(), nnz
    assert (R > 0).mean() < 0.05


def test_pose_blend_shapes_local_and_bounded(arrays, smpl):
    P = arrays["posedirs"].astype(np.float64)
    w = arrays["weights"].astype(np.float64)
    assert np.abs(P).max() > 1e-4  # learned, not zeros
    assert np.abs(P).max() < 0.1  # at most 10 cm per unit of (R - I)
    assert w.shape[0] == P.shape[0]
    # the nose does not react to the legs: zero columns for hips, knees, ankles, feet
    nose = json.loads(VERTEX_IDS.read_text())["nose"]
    leg_cols = np.concatenate([np.arange(9 * (j - 1), 9 * j) for j in (1, 2, 4, 5, 7, 8, 10, 11)])
    assert np.abs(P[nose][:, leg_cols]).max() == 0 and np.abs(P[nose]).max() > 0
    # a foot vertex does not react to the arms: zero columns for the collar..hand joints
    sole = arrays["v_template"][:, 1].argmin()
    arm_cols = np.concatenate([np.arange(9 * (j - 1), 9 * j) for j in range(13, 24) if j != 15])
    assert np.abs(P[sole][:, arm_cols]).max() == 0
    # in a moderate pose the blend shapes move vertices by centimetres, not more
    rng = np.random.default_rng(3)
    body_pose = torch.as_tensor(rng.normal(scale=0.3, size=(1, 69)))
    with_bs = smpl(body_pose=body_pose).vertices[0].detach().numpy()
    a = {k: v.copy() for k, v in arrays.items()}
    a["posedirs"] = np.zeros_like(a["posedirs"])
    plain, _ = numpy_lbs(a, np.zeros(10), np.concatenate([np.zeros(3), body_pose[0].numpy()]), np.zeros(3))
    shift = np.linalg.norm(with_bs - plain, axis=1)
    print(f"\npose blend shapes in a random pose (0.3 rad): mean {shift.mean() * 1000:.1f} mm, max {shift.max() * 1000:.1f} mm")
    assert 1e-4 < shift.mean() < 0.03 and shift.max() < 0.12


# ---------------------------------------------------------------------------------------------
# against anny itself (skipped without anny)
# ---------------------------------------------------------------------------------------------

needs_anny = pytest.mark.skipif(not HAS_ANNY, reason="anny not installed (pip install 'posekit[anny]')")


@needs_anny
def test_joint_regressor_reproduces_anny_joint_centres(arrays):
    from posekit.body import build_open_model as bom

    model = bom.load_anny(full=False)
    bodies = bom.tpose_bodies(model, bom.sample_phenotypes(60, seed=12345))  # unseen shapes
    V, J = bodies["vertices"], bodies["joints"]
    assert V.shape[1] == arrays["v_template"].shape[0]
    R = arrays["J_regressor"].astype(np.float64)
    err = np.linalg.norm(np.einsum("jv,nvc->njc", R, V) - J, axis=-1) * 1000
    # the same through the 10-beta shape space: project each body, then regress
    D = arrays["shapedirs"].astype(np.float64).reshape(-1, 10)
    betas = np.linalg.lstsq(D, (V - arrays["v_template"]).reshape(len(V), -1).T, rcond=None)[0].T
    Vb = arrays["v_template"] + np.einsum("vck,nk->nvc", arrays["shapedirs"].astype(np.float64), betas)
    err_b = np.linalg.norm(np.einsum("jv,nvc->njc", R, Vb) - J, axis=-1) * 1000
    v_err = np.linalg.norm(Vb - V, axis=-1) * 1000
    print(f"\njoint regressor vs anny joint centres, held-out shapes: mean {err.mean():.2f} mm, max {err.max():.2f} mm;"
          f" through 10 betas: mean {err_b.mean():.2f} mm, max {err_b.max():.2f} mm;"
          f" 10-beta vertex error mean {v_err.mean():.2f} mm, max {v_err.max():.2f} mm")
    assert err.mean() < 10 and err.max() < 60
    assert err_b.mean() < 12 and v_err.mean() < 5
    # the betas of anny's adults are roughly unit-variance (the scaling of shapedirs)
    assert np.all((betas.std(0) > 0.5) & (betas.std(0) < 2.0)), betas.std(0)


@needs_anny
def test_pose_blend_shapes_bring_lbs_closer_to_anny(arrays):
    from posekit.body import build_open_model as bom

    model = bom.load_anny(full=False)
    bodies = bom.tpose_bodies(model, bom.sample_phenotypes(8, seed=4321))  # unseen shapes
    args = (model, bodies, list(range(8)), arrays["J_regressor"].astype(np.float64),
            arrays["weights"].astype(np.float64), arrays["posedirs"].astype(np.float64))
    st = bom.posedirs_residual_mm(*args, pose_seed=777, n_poses=10)  # unseen poses
    print(f"\nvertex error vs anny posed alike: plain LBS mean {st['before_mean_mm']:.2f} mm "
          f"(rms {st['before_rms_mm']:.2f}), with pose blend shapes mean {st['after_mean_mm']:.2f} mm "
          f"(rms {st['after_rms_mm']:.2f}): {100 * (1 - st['after_mean_mm'] / st['before_mean_mm']):.0f}% less")
    assert st["after_mean_mm"] < 0.8 * st["before_mean_mm"]
    assert st["after_rms_mm"] < 0.85 * st["before_rms_mm"]
    # the reference itself is anny: with zero rotations anny and the model agree exactly
    rot = torch.eye(3, dtype=torch.float64).expand(2, 24, 3, 3)
    T = bom.anny_bone_transforms(model, torch.as_tensor(bodies["heads"][:2]), rot)
    np.testing.assert_allclose(T.numpy(), np.broadcast_to(np.eye(4), T.shape), atol=1e-12)


@needs_anny
def test_rebuild_matches_shipped(arrays, tmp_path):
    from posekit.body import build_open_model as bom

    out = tmp_path / "open_smpl_neutral.npz"
    bom.build_open_model(full=False, out=out, seed=0)
    with np.load(out) as rebuilt:
        assert set(rebuilt.files) == set(arrays)
        for k in arrays:
            assert rebuilt[k].dtype == arrays[k].dtype, k
            np.testing.assert_allclose(rebuilt[k], arrays[k], rtol=0, atol=1e-5, err_msg=k)
    assert json.loads(bom.vertex_ids_path(out).read_text()) == json.loads(VERTEX_IDS.read_text())
