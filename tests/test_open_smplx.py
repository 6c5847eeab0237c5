"""The shipped open SMPL-X-layout model (posekit/body/models/open_smplx_neutral.npz) against SMPL-X's
layout, plain smplx, an independent numpy LBS, smplx's conventions and (when anny is installed)
anny itself.

The file is read with numpy and smplx only, except where posekit's loader is the subject.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

smplx = pytest.importorskip("smplx")
from smplx.vertex_joint_selector import VertexJointSelector  # noqa: E402

MODEL = Path(__file__).resolve().parent.parent / "posekit" / "body" / "models" / "open_smplx_neutral.npz"
VERTEX_IDS = MODEL.with_name(MODEL.stem + "_vertex_ids.json")
HAS_ANNY = importlib.util.find_spec("anny") is not None

# SMPL-X's joints and kinematic tree, written out here on purpose (not imported from posekit)
BODY = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
        "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")
NAMES = BODY + ("jaw", "left_eye", "right_eye") + tuple(
    f"{s}_{f}{i}" for s in ("left", "right") for f in ("index", "middle", "pinky", "ring", "thumb") for i in (1, 2, 3))
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15]
for _wrist in (20, 21):
    for _f in range(5):
        _base = len(PARENTS)
        PARENTS += [_wrist, _base, _base + 1]
MIRROR = [NAMES.index(n.replace("left", "@").replace("right", "left").replace("@", "right")) for n in NAMES]
KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f",
        "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr",
        "lmk_faces_idx", "lmk_bary_coords", "dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords")


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    with np.load(MODEL) as data:
        return {k: data[k] for k in data.files}


def plain_smplx(**kwargs):
    """The file through plain smplx: SMPLX reads the npz; its keypoint selector gets this mesh's ids."""
    ids = json.loads(VERTEX_IDS.read_text())
    with contextlib.redirect_stdout(io.StringIO()):  # smplx warns about 10 + 10 shape/expression directions
        m = smplx.SMPLX(model_path=str(MODEL), ext="npz", dtype=torch.float64, **kwargs)
    m.vertex_joint_selector = VertexJointSelector(vertex_ids=ids)
    return m


@pytest.fixture(scope="module")
def flat():
    """Full axis-angle hands, zero = the rest hand."""
    return plain_smplx(use_pca=False, flat_hand_mean=True)


def _t(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))[None]


# ---------------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------------

def test_exactly_smplx_layout(arrays):
    V = arrays["v_template"].shape[0]
    expected = {
        "v_template": (V, 3), "shapedirs": (V, 3, 20), "posedirs": (V, 3, 486), "J_regressor": (55, V),
        "weights": (V, 55), "kintree_table": (2, 55), "hands_componentsl": (45, 45), "hands_componentsr": (45, 45),
        "hands_meanl": (45,), "hands_meanr": (45,), "lmk_faces_idx": (51,), "lmk_bary_coords": (51, 3),
        "dynamic_lmk_faces_idx": (79, 17), "dynamic_lmk_bary_coords": (79, 17, 3),
    }
    assert set(arrays) == set(KEYS)
    for k, shape in expected.items():
        assert arrays[k].shape == shape, k
        assert np.isfinite(arrays[k]).all(), k
    for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "hands_componentsl",
              "hands_componentsr", "hands_meanl", "hands_meanr", "lmk_bary_coords", "dynamic_lmk_bary_coords"):
        assert arrays[k].dtype == np.float32, k
    f = arrays["f"]
    assert f.ndim == 2 and f.shape[1] == 3 and np.issubdtype(f.dtype, np.integer)
    assert f.min() == 0 and f.max() == V - 1 and len(np.unique(f)) == V  # every vertex used
    kt = arrays["kintree_table"]
    assert kt[0, 0] == 4294967295 and kt[0, 1:].tolist() == PARENTS[1:] and kt[1].tolist() == list(range(55))
    for k in ("lmk_faces_idx", "dynamic_lmk_faces_idx"):
        assert np.issubdtype(arrays[k].dtype, np.integer) and arrays[k].min() >= 0 and arrays[k].max() < len(f), k
    for k in ("lmk_bary_coords", "dynamic_lmk_bary_coords"):
        b = arrays[k].astype(np.float64)
        assert (b >= -1e-6).all(), k
        np.testing.assert_allclose(b.sum(-1), 1.0, atol=1e-5, err_msg=k)
    assert 2000 <= V <= 5000
    assert MODEL.stat().st_size < 3_000_000


def test_mesh_is_closed_and_consistently_oriented(arrays):
    trimesh = pytest.importorskip("trimesh")
    mesh = trimesh.Trimesh(arrays["v_template"].astype(np.float64), arrays["f"], process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0  # outward normals
    # the body and two eyeballs
    assert len(trimesh.graph.connected_components(mesh.edges)) == 3


def test_template_and_joints_mirror_symmetric(arrays):
    v = arrays["v_template"].astype(np.float64)
    dist, nn = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))
    assert dist.max() < 1e-3, dist.max()
    J = arrays["J_regressor"].astype(np.float64) @ v
    np.testing.assert_allclose(J[MIRROR] * np.array([-1.0, 1.0, 1.0]), J, atol=2e-3)
    w = arrays["weights"].astype(np.float64)
    np.testing.assert_allclose(w[nn][:, MIRROR], w, atol=0.02)


def test_skinning_weights_and_regressor(arrays):
    w = arrays["weights"].astype(np.float64)
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    assert (np.bincount(w.argmax(1), minlength=55) >= 3).all()  # every joint dominates some vertices
    R = arrays["J_regressor"].astype(np.float64)
    assert (R >= 0).all()
    np.testing.assert_allclose(R.sum(1), 1.0, atol=1e-5)
    assert ((R > 0).sum(1) >= 2).all() and (R > 0).mean() < 0.05


def test_dense_enough_on_hands_and_face(arrays):
    """Hands and face keep many more vertices than their share of the body's surface."""
    w = arrays["weights"].astype(np.float64)
    dom = w.argmax(1)
    hand = np.isin(dom, [20, 21] + list(range(25, 55)))
    face = np.isin(dom, [15, 22, 23, 24])
    assert hand.sum() >= 600 and face.sum() >= 1000, (hand.sum(), face.sum())
    for j in range(25, 55):  # every phalanx is a ring of vertices, not a stick
        assert (dom == j).sum() >= 8, NAMES[j]


# ---------------------------------------------------------------------------------------------
# plain smplx and an independent numpy LBS
# ---------------------------------------------------------------------------------------------

def test_plain_smplx_zero_pose_is_template(arrays):
    m = plain_smplx(use_face_contour=True, flat_hand_mean=True)  # (default: hands at the PCA's mean pose)
    out = m()
    v = arrays["v_template"].astype(np.float64)
    np.testing.assert_allclose(out.vertices[0].detach().numpy(), v, atol=1e-6)
    # 55 joints, smplx's 21 vertex keypoints, 51 landmarks and 17 contour points
    assert out.joints.shape == (1, 55 + 21 + 51 + 17, 3)
    np.testing.assert_allclose(out.joints[0, :55].detach().numpy(), arrays["J_regressor"] @ v, atol=1e-5)


def numpy_smplx(arrays, betas, expression, pose, transl):
    """SMPL-X's equations in numpy: shape + expression blend shapes, 55-joint LBS, no pose blend shapes term
    skipped (posedirs are applied too)."""
    a = {k: arrays[k].astype(np.float64) for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights")}
    parents = arrays["kintree_table"][0].astype(np.int64)
    v_shaped = a["v_template"] + np.einsum("vck,k->vc", a["shapedirs"], np.concatenate([betas, expression]))
    J = a["J_regressor"] @ v_shaped
    R = Rotation.from_rotvec(pose.reshape(55, 3)).as_matrix()
    v_posed = v_shaped + np.einsum("vcp,p->vc", a["posedirs"], (R[1:] - np.eye(3)).reshape(-1))
    G = np.zeros((55, 4, 4))
    for j in range(55):
        local = np.eye(4)
        local[:3, :3] = R[j]
        local[:3, 3] = J[j] - (J[parents[j]] if j > 0 else 0.0)
        G[j] = local if j == 0 else G[parents[j]] @ local
    joints = G[:, :3, 3].copy()
    G[:, :3, 3] -= np.einsum("jab,jb->ja", G[:, :3, :3], J)
    T = np.einsum("vj,jab->vab", a["weights"], G)
    return np.einsum("vab,vb->va", T[:, :3, :3], v_posed) + T[:, :3, 3] + transl, joints + transl


def test_independent_numpy_lbs_matches_smplx(arrays):
    m = plain_smplx(num_pca_comps=12)  # hands through the PCA, around the mean pose
    rng = np.random.default_rng(5)
    for _ in range(3):
        betas, expr = rng.normal(size=10), rng.normal(size=10)
        go, body, jaw, leye, reye = (rng.normal(scale=0.3, size=n) for n in (3, 63, 3, 3, 3))
        lh, rh = rng.normal(scale=0.5, size=12), rng.normal(scale=0.5, size=12)
        transl = rng.normal(scale=0.5, size=3)
        lpose = arrays["hands_meanl"] + lh @ arrays["hands_componentsl"][:12]
        rpose = arrays["hands_meanr"] + rh @ arrays["hands_componentsr"][:12]
        pose = np.concatenate([go, body, jaw, leye, reye, lpose, rpose])
        v_ref, j_ref = numpy_smplx(arrays, betas, expr, pose, transl)
        out = m(betas=_t(betas), expression=_t(expr), global_orient=_t(go), body_pose=_t(body), jaw_pose=_t(jaw),
                leye_pose=_t(leye), reye_pose=_t(reye), left_hand_pose=_t(lh), right_hand_pose=_t(rh), transl=_t(transl))
        np.testing.assert_allclose(out.vertices[0].detach().numpy(), v_ref, atol=2e-6)
        np.testing.assert_allclose(out.joints[0, :55].detach().numpy(), j_ref, atol=2e-6)


def test_loader_returns_smplx_with_this_meshs_keypoints(arrays):
    from posekit.body import load_body_model, forward

    m = load_body_model("open", model_type="smplx", device="cpu", dtype=torch.float64)
    assert type(m) is smplx.SMPLX and m.is_open_model and m.model_file.endswith("open_smplx_neutral.npz")
    assert m.num_betas == 10 and m.num_expression_coeffs == 10
    out = forward(m, betas=torch.zeros(2, 10, dtype=torch.float64))
    assert out.vertices.shape == (2, arrays["v_template"].shape[0], 3) and out.joints.shape == (2, 55 + 21 + 51, 3)
    ids = json.loads(VERTEX_IDS.read_text())
    v = out.vertices[0].detach().numpy()
    np.testing.assert_allclose(out.joints[0, 55].detach().numpy(), v[ids["nose"]], atol=1e-12)
    np.testing.assert_allclose(out.joints[0, 55 + 20].detach().numpy(), v[ids["rpinky"]], atol=1e-12)
    with pytest.raises(ValueError, match="no full-resolution"):
        load_body_model("open-full", model_type="smplx")
    with pytest.raises(ValueError, match="model_type"):
        load_body_model("open", model_type="smplh")
    # the SMPL model is unchanged: still smplx.SMPL with 24 + 21 joints
    s = load_body_model("open", device="cpu")
    assert type(s) is smplx.SMPL and s().joints.shape[1] == 45


def test_body_joints_are_the_open_smpl_models(arrays):
    """The 22 body joints sit where the open SMPL model puts them (same anny bones, same shapes)."""
    with np.load(MODEL.with_name("open_smpl_neutral.npz")) as s:
        J_smpl = s["J_regressor"].astype(np.float64) @ s["v_template"].astype(np.float64)
    J = arrays["J_regressor"].astype(np.float64) @ arrays["v_template"].astype(np.float64)
    err = np.linalg.norm(J[:22] - J_smpl[:22], axis=1) * 1000
    print(f"\nbody joints vs the open SMPL model's: mean {err.mean():.1f} mm, max {err.max():.1f} mm")
    assert err.mean() < 8 and err.max() < 25


# ---------------------------------------------------------------------------------------------
# shape, expression and hand spaces
# ---------------------------------------------------------------------------------------------

def test_shape_and_expression_directions(arrays):
    D = arrays["shapedirs"].astype(np.float64).reshape(-1, 20)
    for cols in (slice(0, 10), slice(10, 20)):  # each block: orthogonal, by decreasing variance
        G = D[:, cols].T @ D[:, cols]
        assert np.abs(G - np.diag(np.diag(G))).max() < 1e-4 * np.diag(G).max()
        assert np.all(np.diff(np.diag(G)) <= 1e-9)
    # expressions move the face only (head, jaw and eyes' skin groups), by millimetres to centimetres
    E = arrays["shapedirs"][:, :, 10:].astype(np.float64)
    dom = arrays["weights"].argmax(1)
    face = np.isin(dom, [12, 15, 22, 23, 24])
    assert np.abs(E[~face]).max() < 1e-4
    moved = np.linalg.norm(E, axis=1).max(0)
    assert np.all((moved > 1e-3) & (moved < 0.03)), moved
    # the first shape direction is mostly stature (> 20 cm over +-2)
    v = arrays["v_template"].astype(np.float64)
    h = [np.ptp(v[:, 1] + s * arrays["shapedirs"][:, 1, 0]) for s in (-2.0, 2.0)]
    assert abs(h[1] - h[0]) > 0.2


def test_hand_pca_orthonormal_and_mirrored(arrays):
    for s in "lr":
        C = arrays[f"hands_components{s}"].astype(np.float64)
        np.testing.assert_allclose(C @ C.T, np.eye(45), atol=1e-5)
    m = np.tile([1.0, -1.0, -1.0], 15)
    np.testing.assert_allclose(arrays["hands_componentsr"], arrays["hands_componentsl"] * m, atol=1e-7)
    np.testing.assert_allclose(arrays["hands_meanr"], arrays["hands_meanl"] * m, atol=1e-7)


def test_posed_hands_mirror_symmetric(arrays, flat):
    """Left pose p and right pose mirror(p) give mirror-image hands."""
    v = arrays["v_template"].astype(np.float64)
    nn = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))[1]
    rng = np.random.default_rng(2)
    lp = rng.normal(scale=0.4, size=45)
    a = flat(left_hand_pose=_t(lp)).vertices[0].detach().numpy()
    b = flat(right_hand_pose=_t(lp * np.tile([1.0, -1.0, -1.0], 15))).vertices[0].detach().numpy()
    left = v[:, 0] > 0.5
    err = np.linalg.norm(a[left] - (b[nn] * np.array([-1.0, 1.0, 1.0]))[left], axis=1)
    assert err.max() < 3e-3, err.max()


# ---------------------------------------------------------------------------------------------
# smplx's conventions
# ---------------------------------------------------------------------------------------------

def test_left_is_plus_x_up_is_y_forward_is_z(arrays):
    v = arrays["v_template"].astype(np.float64)
    J = arrays["J_regressor"].astype(np.float64) @ v
    for j, n in enumerate(NAMES):
        if n.startswith("left_"):
            assert J[j, 0] > 0.015 and J[MIRROR[j], 0] < -0.015, n
    assert J[15, 1] - J[0, 1] > 0.4 and 1.4 < np.ptp(v[:, 1]) < 2.0
    # eyes in front of the jaw joint, the jaw below the eyes; hands at the ends of the arms
    assert J[23, 2] > J[22, 2] and J[23, 1] > J[22, 1]
    assert J[25:40, 0].min() > J[20, 0] - 0.01 and J[40:55, 0].max() < J[21, 0] + 0.01
    ids = json.loads(VERTEX_IDS.read_text())
    assert v[ids["leye"], 0] > 0 > v[ids["reye"], 0] and v[ids["nose"], 2] > v[ids["leye"], 2]
    assert v[ids["lthumb"], 2] > v[ids["lpinky"], 2]  # palms down: the thumb is in front


def _landmarks(m, **pose):
    out = m(**pose)
    return out.joints[0, 55 + 21:55 + 21 + 51].detach().numpy()


def test_landmarks_layout(flat):
    L = _landmarks(flat)
    ix = lambda i: i - 17  # noqa: E731  iBUG index -> row
    # subject's right (iBUG 17-21 brow, 36-41 eye, 48 mouth corner) at -x
    assert L[ix(19), 0] < 0 < L[ix(24), 0] and L[ix(36), 0] < L[ix(39), 0] < 0 < L[ix(42), 0] < L[ix(45), 0]
    assert L[ix(48), 0] < 0 < L[ix(54), 0]
    # top to bottom: brows, eyes, nose tip, mouth; the nose tip is the most forward
    assert L[ix(19), 1] > L[ix(37), 1] > L[ix(41), 1] > L[ix(30), 1] > L[ix(33), 1] > L[ix(51), 1] > L[ix(57), 1]
    assert np.argmax(L[:, 2]) == ix(30)
    # the mouth is narrower than the eyes' outer corners, wider than the nose
    assert L[ix(35), 0] - L[ix(31), 0] < L[ix(54), 0] - L[ix(48), 0] < L[ix(45), 0] - L[ix(36), 0]
    # mirror pairs
    for a, b in ((36, 45), (39, 42), (48, 54), (31, 35), (17, 26)):
        np.testing.assert_allclose(L[ix(a)] * [-1, 1, 1], L[ix(b)], atol=2e-3)


def test_jaw_opens_with_positive_x_rotation(flat):
    rest = _landmarks(flat)
    opened = _landmarks(flat, jaw_pose=_t([0.3, 0.0, 0.0]))
    ix = lambda i: i - 17  # noqa: E731
    gap = lambda L: L[ix(62), 1] - L[ix(66), 1]  # noqa: E731  inner upper lip - inner lower lip
    assert gap(opened) > gap(rest) + 0.01  # the mouth opens by more than a centimetre
    assert opened[ix(57), 1] < rest[ix(57), 1] - 0.01  # the lower lip goes down
    np.testing.assert_allclose(opened[:ix(48)], rest[:ix(48)], atol=1e-3)  # brows, nose, eyes stay
    closed = _landmarks(flat, jaw_pose=_t([-0.2, 0.0, 0.0]))
    assert closed[ix(57), 2] > rest[ix(57), 2]  # negative: the chin comes forward into the upper jaw


@pytest.mark.parametrize("side,sign", [("left", -1.0), ("right", 1.0)])
def test_finger_flexion_curls_towards_the_palm(flat, arrays, side, sign):
    """Palms face down (-y) in the rest pose; SMPL-X's relaxed left hand has negative z rotations,
    the right hand positive ones: such a rotation curls the fingers towards the palm."""
    ids = json.loads(VERTEX_IDS.read_text())
    v0 = flat().vertices[0].detach().numpy()
    for k, finger in enumerate(("index", "middle", "pinky", "ring")):
        tip = ids[f"{side[0]}{finger}"]
        for joint in range(3):
            pose = np.zeros(45)
            pose[9 * k + 3 * joint + 2] = sign * 0.4
            v = flat(**{f"{side}_hand_pose": _t(pose)}).vertices[0].detach().numpy()
            assert v[tip, 1] < v0[tip, 1] - 0.002, (finger, joint)  # down, towards the palm side
            assert abs(v[tip, 0]) < abs(v0[tip, 0]) - 0.001, (finger, joint)  # and back towards the wrist
            assert abs(v[tip, 2] - v0[tip, 2]) < 1e-9  # a rotation about z
    # the mean hand of the PCA is a relaxed, slightly closed hand: long fingers rotate that way
    mean = arrays[f"hands_mean{side[0]}"].reshape(15, 3)
    assert np.all(sign * mean[:12, 2] > 0)


@pytest.mark.parametrize("side", ["left", "right"])
def test_eye_turns_left_with_positive_y_rotation(flat, side):
    ids = json.loads(VERTEX_IDS.read_text())
    pupil = ids[f"{side[0]}eye"]
    v0 = flat().vertices[0].detach().numpy()
    v = flat(**{f"{side[0]}eye_pose": _t([0.0, 0.3, 0.0])}).vertices[0].detach().numpy()
    assert v[pupil, 0] > v0[pupil, 0] + 0.002
    far = np.linalg.norm(v0 - v0[pupil], axis=1) > 0.05  # nothing else moves
    np.testing.assert_allclose(np.linalg.norm(v - v0, axis=1)[far].max(), 0.0, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# against anny itself (skipped without anny)
# ---------------------------------------------------------------------------------------------

needs_anny = pytest.mark.skipif(not HAS_ANNY, reason="anny not installed (pip install 'posekit[anny]')")


@pytest.fixture(scope="module")
def anny_side(arrays):
    """anny, T-posed held-out bodies on its full mesh, and the anny vertex of each model vertex."""
    from posekit.body import build_open_model as bom
    from posekit.body import build_open_smplx as bx

    model = bx.load_anny()
    W = bx.skinning_weights(model)
    eyes = {s: np.flatnonzero(W.argmax(1) == bx.JOINT_NAMES.index(f"{s}_eye_smplhf")) for s in ("left", "right")}
    train = bx.tpose_bodies(model, bom.sample_phenotypes(400, seed=0)[:300])  # the build's training shapes
    dist, keep = cKDTree(train["vertices"].mean(0)).query(arrays["v_template"].astype(np.float64))
    held = bx.tpose_bodies(model, bom.sample_phenotypes(6, seed=2468))  # unseen shapes
    return model, keep, dist, held, eyes


@needs_anny
def test_vertices_are_anny_vertices(anny_side):
    _, keep, dist, _, _ = anny_side
    assert dist.max() < 1e-5 and len(np.unique(keep)) == len(keep)


@needs_anny
def test_matches_anny_forward(arrays, anny_side):
    """Same body, same rotations: the model (on the anny body's own T-pose) against anny's own skinning."""
    from posekit.body import build_open_smplx as bx

    model, keep, _, held, _ = anny_side
    rng = np.random.default_rng(9)
    results = {}
    for label, body_scale in (("hands, jaw and eyes", 0.0), ("with body poses", 0.3)):
        errs = []
        for n in range(len(held["vertices"])):
            pose = np.zeros((55, 3))
            pose[1:22] = rng.normal(scale=body_scale, size=(21, 3))
            pose[22] = [rng.uniform(0, 0.35), 0, 0]
            pose[23:25] = rng.normal(scale=0.2, size=(2, 3))
            lp = rng.normal(scale=0.3, size=45) + arrays["hands_meanl"]
            pose[25:40] = lp.reshape(15, 3)
            pose[40:55] = (rng.normal(scale=0.3, size=45) + arrays["hands_meanr"]).reshape(15, 3)
            rot = torch.as_tensor(Rotation.from_rotvec(pose).as_matrix())[None]
            ref = bx.anny_posed_vertices(model, torch.as_tensor(held["vertices"][n:n + 1]),
                                         torch.as_tensor(held["heads"][n:n + 1]), rot)[0].numpy()[keep]
            m = plain_smplx(use_pca=False, flat_hand_mean=True, v_template=held["vertices"][n][keep])
            out = m(body_pose=_t(pose[1:22].ravel()), jaw_pose=_t(pose[22]), leye_pose=_t(pose[23]),
                    reye_pose=_t(pose[24]), left_hand_pose=_t(pose[25:40].ravel()),
                    right_hand_pose=_t(pose[40:55].ravel()))
            errs.append(np.linalg.norm(out.vertices[0].detach().numpy() - ref, axis=1) * 1000)
        e = np.concatenate(errs)
        results[label] = e
        print(f"\nvs anny posed alike ({label}, {len(held['vertices'])} held-out bodies): mean {e.mean():.2f} mm, "
              f"p99 {np.percentile(e, 99):.2f} mm, max {e.max():.2f} mm")
    e = results["hands, jaw and eyes"]
    assert e.mean() < 1.0 and np.percentile(e, 99) < 5.0 and e.max() < 15.0
    e = results["with body poses"]  # plain LBS of 55 joints vs anny's finer rig (no pose blend shapes)
    assert e.mean() < 20.0


@needs_anny
def test_joint_regressor_reproduces_anny_joints(arrays, anny_side):
    _, keep, _, held, _ = anny_side
    R = arrays["J_regressor"].astype(np.float64)
    err = np.linalg.norm(np.einsum("jv,nvc->njc", R, held["vertices"][:, keep]) - held["joints"], axis=-1) * 1000
    print("\nper joint, jaw and eyes (mm):", err[:, 22:25].mean(0).round(2), err[:, 22:25].max(0).round(2))
    print(f"joint regressor vs anny joints, held-out bodies: body mean {err[:, :22].mean():.2f} mm, "
          f"hands mean {err[:, 25:].mean():.2f} mm (max {err[:, 25:].max():.2f}), jaw/eyes max {err[:, 22:25].max():.2f} mm")
    assert err[:, :22].mean() < 10 and err[:, 25:].mean() < 2.0 and err[:, 25:].max() < 6.0 and err[:, 22:25].max() < 3.0


@needs_anny
def test_expression_space_is_anny_facial_actions(arrays, anny_side):
    """The closed-form basis against a Monte Carlo estimate of the same second moment, and how much of
    anny's sampled expressions the 10 directions hold."""
    from posekit.body import build_open_model as bom
    from posekit.body import build_open_smplx as bx

    model, keep, _, _, _ = anny_side
    mean_a, cov_a, actions = bx.expression_distribution(list(model.facial_action_labels))
    phen = bom.sample_phenotypes(400, seed=0)[:300].mean(0, keepdim=True)
    B = bx._action_offsets(model, phen, actions)[:, keep].reshape(len(actions), -1)
    rng = np.random.default_rng(0)
    a = (rng.uniform(size=(20000, len(actions))) < 0.3) * rng.uniform(size=(20000, len(actions)))
    O = a @ B  # sampled expression offsets
    E = arrays["shapedirs"][:, :, 10:].astype(np.float64).reshape(-1, 10)
    eig = (E * E).sum(0)
    mc = ((O @ (E / np.sqrt(eig))) ** 2).mean(0)  # sampled second moment along each direction
    np.testing.assert_allclose(mc, eig, rtol=0.05)
    coef = np.linalg.lstsq(E, O.T, rcond=None)[0]
    held = 1 - ((O.T - E @ coef) ** 2).sum() / (O ** 2).sum()
    print(f"\n10 expression directions hold {100 * held:.1f}% of anny's sampled facial-action offsets")
    assert held > 0.8


@needs_anny
def test_rebuild_matches_shipped(arrays, tmp_path):
    from posekit.body import build_open_smplx as bx

    out = tmp_path / "open_smplx_neutral.npz"
    bx.build_open_smplx(out=out, seed=0)
    with np.load(out) as rebuilt:
        assert set(rebuilt.files) == set(arrays)
        for k in arrays:
            assert rebuilt[k].dtype == arrays[k].dtype, k
            np.testing.assert_allclose(rebuilt[k], arrays[k], rtol=0, atol=1e-5, err_msg=k)
    assert json.loads(bx.vertex_ids_path(out).read_text()) == json.loads(VERTEX_IDS.read_text())
