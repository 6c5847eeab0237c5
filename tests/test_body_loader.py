"""posekit.body: loading body models (open model, SMPL-family .npz/.pkl without chumpy) and the checked forward.

References are independent of posekit's loader: plain smplx modules built straight from the file's
arrays, and a NumPy/SciPy implementation of SMPL's equations (blend shapes, joint regression,
Rodrigues, forward kinematics, linear blend skinning).
"""
from __future__ import annotations

import json
import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import smplx
import torch
from scipy.spatial.transform import Rotation
from smplx.utils import Struct
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

import posekit.body as pb
from posekit.body.synthetic import TPOSE_JOINTS, save_tiny_smpl, tiny_smpl_arrays
from posekit.skeleton import SMPL_PARENTS

OPEN = pb.open_model_path()
needs_open = pytest.mark.skipif(not OPEN.is_file(), reason="open model file not built yet")


# ------------------------------------------------------------------------------------------------
# fixtures and references
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def tiny(tmp_path):
    """A tiny SMPL-layout model with 16 betas and non-zero pose blend shapes."""
    return save_tiny_smpl(tmp_path / "tiny.npz", num_betas=16, posedirs_scale=0.002, seed=3)


def numpy_smpl(arrays, betas, pose):
    """SMPL's M(beta, theta) in NumPy/SciPy (float64): returns vertices (V, 3) and joints (J, 3)."""
    v_t = np.asarray(arrays["v_template"], np.float64)
    sd = np.asarray(arrays["shapedirs"], np.float64)[:, :, :len(betas)]
    v_shaped = v_t + sd @ betas                                           # T + B_S(beta)
    jr = arrays["J_regressor"]
    jr = jr.toarray() if scipy.sparse.issparse(jr) else np.asarray(jr, np.float64)
    J = jr @ v_shaped                                                     # J(beta)
    R = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix()             # (24, 3, 3)
    pose_feat = (R[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + np.asarray(arrays["posedirs"], np.float64) @ pose_feat   # + B_P(theta)
    parents = np.asarray(arrays["kintree_table"])[0].astype(np.int64)
    G = np.zeros((len(J), 4, 4))
    for i in range(len(J)):
        local = np.eye(4)
        local[:3, :3] = R[i]
        local[:3, 3] = J[i] - (J[parents[i]] if i > 0 else 0)
        G[i] = local if i == 0 else G[parents[i]] @ local
    posed_joints = G[:, :3, 3].copy()
    G[:, :3, 3] -= np.einsum("jab,jb->ja", G[:, :3, :3], J)               # remove the rest joint location
    T = np.einsum("vj,jab->vab", np.asarray(arrays["weights"], np.float64), G)
    verts = np.einsum("vab,vb->va", T[:, :3, :3], v_posed) + T[:, :3, 3]
    return verts, posed_joints


def plain_smplx(path, num_betas=10):
    """smplx.SMPL straight from the file's arrays (no posekit code). smplx's default keypoint vertex ids
    index SMPL's 6890-vertex topology: use the file's JSON sidecar when there is one, else vertex 0."""
    data = dict(np.load(path))
    side = path.with_name(path.stem + "_vertex_ids.json")
    ids = json.loads(side.read_text()) if side.is_file() else {k: 0 for k in SMPLX_VERTEX_IDS["smplh"]}
    return smplx.SMPL(model_path=str(path), data_struct=Struct(**data), num_betas=num_betas, vertex_ids=ids)


def random_inputs(B, nb, seed=0, scale=0.4):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, nb, generator=g), scale * torch.randn(B, 3, generator=g),
            scale * torch.randn(B, 69, generator=g), torch.randn(B, 3, generator=g))


# ------------------------------------------------------------------------------------------------
# loading and agreement with references
# ------------------------------------------------------------------------------------------------
def test_tiny_model_matches_numpy_reference(tiny):
    """All 16 betas are used (smplx alone would cap a <300-direction file at 10) and LBS matches NumPy."""
    arrays = dict(np.load(tiny))
    m = pb.load_body_model(tiny, num_betas=16)
    assert isinstance(m, smplx.SMPL) and m.num_betas == 16
    betas, go, bp, tr = random_inputs(3, 16, seed=1)
    out = pb.forward(m, betas=betas, global_orient=go, body_pose=bp, transl=tr)
    for b in range(3):
        pose = np.concatenate([go[b].numpy(), bp[b].numpy()]).astype(np.float64)
        v_ref, j_ref = numpy_smpl(arrays, betas[b].double().numpy(), pose)
        np.testing.assert_allclose(out.vertices[b].numpy(), v_ref + tr[b].numpy(), atol=2e-5)
        np.testing.assert_allclose(out.joints[b].numpy(), j_ref + tr[b].numpy(), atol=2e-5)
    assert out.joints.shape == (3, 24, 3)  # own topology without keypoint vertices: exactly SMPL's joints


def test_tiny_model_matches_plain_smplx(tiny):
    m = pb.load_body_model(tiny, num_betas=10)
    ref = plain_smplx(tiny, num_betas=10)
    betas, go, bp, tr = random_inputs(4, 10, seed=2)
    a = pb.forward(m, betas=betas, global_orient=go, body_pose=bp, transl=tr)
    b = ref(betas=betas, global_orient=go, body_pose=bp, transl=tr)
    torch.testing.assert_close(a.vertices, b.vertices)
    torch.testing.assert_close(a.joints, b.joints[:, :24])


@needs_open
def test_open_model_loads_as_smpl():
    m = pb.load_body_model("open")
    n = np.load(OPEN)["v_template"].shape[0]
    assert type(m) is smplx.SMPL
    assert m.get_num_verts() == n and 1000 <= n <= 2000
    assert m.J_regressor.shape == (24, n) and m.num_betas == 10
    assert m.parents.tolist() == list(SMPL_PARENTS)


@needs_open
def test_open_model_same_vertices_as_plain_smplx():
    m = pb.load_body_model("open", batch_size=5)
    ref = plain_smplx(OPEN)
    betas, go, bp, tr = random_inputs(5, 10, seed=4)
    a = pb.forward(m, betas=betas, global_orient=go, body_pose=bp, transl=tr)
    b = ref(betas=betas, global_orient=go, body_pose=bp, transl=tr)
    torch.testing.assert_close(a.vertices, b.vertices)
    torch.testing.assert_close(a.joints, b.joints)
    if pb.keypoint_ids_path(OPEN).is_file():
        assert a.joints.shape == (5, 45, 3)  # SMPL's 24 joints + smplx's 21 vertex keypoints, as for real SMPL
    # and smplx's own forward on the module (its parameters) equals posekit.body.forward
    with torch.no_grad():
        m.betas[:] = betas
        m.body_pose[:] = bp
        m.global_orient[:] = go
        m.transl[:] = tr
    torch.testing.assert_close(m().vertices, a.vertices)


@needs_open
def test_open_model_numpy_reference():
    arrays = dict(np.load(OPEN))
    m = pb.load_body_model("open")
    betas, go, bp, _ = random_inputs(1, 10, seed=5)
    out = pb.forward(m, betas=betas, global_orient=go, body_pose=bp)
    v_ref, j_ref = numpy_smpl(arrays, betas[0].double().numpy(), np.concatenate([go[0], bp[0]]).astype(np.float64))
    np.testing.assert_allclose(out.vertices[0].numpy(), v_ref, atol=1e-4)
    np.testing.assert_allclose(out.joints[0, :24].numpy(), j_ref, atol=1e-4)


def test_keypoint_sidecar_gives_smplx_extra_joints(tiny):
    ids = {k: i for i, k in enumerate(SMPLX_VERTEX_IDS["smplh"])}  # 21 names -> vertices 0..20
    pb.keypoint_ids_path(tiny).write_text(json.dumps(ids))
    m = pb.load_body_model(tiny)
    out = pb.forward(m, body_pose=0.3 * torch.randn(2, 69))
    assert out.joints.shape == (2, 45, 3)
    order = ["nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe",
             "RHeel"] + [h + t for h in "lr" for t in ("thumb", "index", "middle", "ring", "pinky")]
    torch.testing.assert_close(out.joints[:, 24:], out.vertices[:, [ids[k] for k in order]])
    pb.keypoint_ids_path(tiny).write_text(json.dumps({**ids, "nose": 10**6}))
    with pytest.raises(ValueError, match="outside"):
        pb.load_body_model(tiny)


def test_open_model_path_and_full_error(monkeypatch, tmp_path):
    assert pb.open_model_path().name == "open_smpl_neutral.npz"
    assert pb.open_model_path().parent.name == "models"
    monkeypatch.setenv("POSEKIT_DATA", str(tmp_path))
    assert pb.open_model_path(full=True) == tmp_path / "body" / "open_smpl_neutral_full.npz"
    with pytest.raises(FileNotFoundError, match="build_open_model --full"):
        pb.load_body_model("open-full")


def test_open_model_is_neutral_only():
    with pytest.raises(ValueError, match="gender-neutral"):
        pb.load_body_model("open", gender="female")


def test_device_dtype_and_batch_size(tiny):
    m = pb.load_body_model(tiny, device="cpu", batch_size=3, num_betas=12, dtype=torch.float64)
    assert all(t.device.type == "cpu" for t in m.buffers())
    assert m.shapedirs.dtype == torch.float64 and m.betas.shape == (3, 12) and m.body_pose.shape == (3, 69)
    assert m.shapedirs.shape[-1] == 12
    out = pb.forward(m, betas=torch.zeros(12, dtype=torch.float32))  # (nb,) broadcast, float32 cast to float64
    assert out.vertices.dtype == torch.float64 and out.vertices.shape[0] == 1
    # zero inputs reproduce the template and the regressed joints
    np.testing.assert_allclose(out.vertices[0].numpy(), np.load(tiny)["v_template"], atol=1e-6)
    np.testing.assert_allclose(out.joints[0].numpy(), TPOSE_JOINTS, atol=1e-6)
    if torch.cuda.is_available():  # pragma: no cover - no GPU on the CI machine
        mc = pb.load_body_model(tiny, device="cuda")
        assert mc.v_template.is_cuda


def test_forward_gradients_and_rotation_matrices(tiny):
    m = pb.load_body_model(tiny)
    bp = (0.3 * torch.randn(2, 23, 3, generator=torch.Generator().manual_seed(0))).requires_grad_()
    out = pb.forward(m, body_pose=bp)
    out.vertices.sum().backward()
    assert bp.grad is not None and torch.isfinite(bp.grad).all() and bp.grad.abs().sum() > 0
    R = torch.from_numpy(Rotation.from_rotvec(bp.detach().reshape(-1, 3).numpy()).as_matrix()).float().reshape(2, 23, 3, 3)
    out_rm = pb.forward(m, body_pose=R)
    torch.testing.assert_close(out_rm.vertices, out.vertices.detach(), atol=1e-5, rtol=1e-5)


def test_knee_bend_moves_ankle_backwards(tiny):
    """Rotating the left knee about +x by +90 degrees swings the ankle behind the body (-z)."""
    m = pb.load_body_model(tiny)
    bp = torch.zeros(1, 23, 3)
    bp[0, 4 - 1, 0] = np.pi / 2  # body_pose row i is joint i+1
    rest = pb.forward(m).joints[0]
    bent = pb.forward(m, body_pose=bp).joints[0]
    assert bent[7, 2] < rest[7, 2] - 0.3
    torch.testing.assert_close(bent[:5], rest[:5])  # knee and its ancestors do not move


# ------------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------------
def test_missing_file_says_where_to_get_smpl(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        pb.load_body_model(tmp_path / "SMPL_NEUTRAL.pkl")
    msg = str(e.value)
    assert "smpl.is.tue.mpg.de" in msg and 'model="open"' in msg


def test_empty_folder_lists_what_was_searched(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        pb.load_body_model(tmp_path, gender="male")
    msg = str(e.value)
    assert "SMPL_MALE" in msg and "smpl.is.tue.mpg.de" in msg and 'model="open"' in msg


def test_npz_missing_keys_are_listed(tmp_path):
    arrays = tiny_smpl_arrays()
    del arrays["weights"], arrays["J_regressor"]
    p = tmp_path / "broken.npz"
    np.savez(p, **arrays)
    with pytest.raises(ValueError) as e:
        pb.load_body_model(p)
    assert "'weights'" in str(e.value) and "'J_regressor'" in str(e.value)
    assert "'v_template'" not in str(e.value).split("needs")[0]


def test_inconsistent_shapes_are_refused(tmp_path):
    arrays = tiny_smpl_arrays()
    arrays["weights"] = arrays["weights"][:, :20]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="weights must be"):
        pb.load_body_model(tmp_path / "bad.npz")


def test_too_many_betas(tiny):
    with pytest.raises(ValueError, match="only 16 shape directions"):
        pb.load_body_model(tiny, num_betas=17)


@pytest.mark.parametrize("kwargs, match", [
    (dict(body_pose=torch.zeros(2, 63)), r"\(B, 69\).*body21_to_body_pose"),
    (dict(body_pose=torch.zeros(2, 72)), r"full pose"),
    (dict(body_pose=torch.zeros(69)), r"\(B, 69\)"),
    (dict(global_orient=torch.zeros(2, 4)), r"global_orient must have shape"),
    (dict(betas=torch.zeros(2, 11)), r"num_betas=10"),
    (dict(transl=torch.zeros(2, 2)), r"transl must have shape"),
    (dict(betas=torch.zeros(3, 10), body_pose=torch.zeros(2, 69)), r"batch sizes disagree"),
    (dict(body_pose=torch.zeros(1, 69, dtype=torch.long)), r"floating-point"),
    (dict(body_pose=torch.full((1, 69), float("nan"))), r"NaN"),
])
def test_forward_rejects_bad_shapes(tiny, kwargs, match):
    m = pb.load_body_model(tiny)
    with pytest.raises((ValueError, TypeError), match=match):
        pb.forward(m, **kwargs)


def test_forward_accepts_broadcast_batch(tiny):
    m = pb.load_body_model(tiny)
    betas = torch.randn(1, 10)
    bp = 0.2 * torch.randn(4, 69)
    out = pb.forward(m, betas=betas, body_pose=bp)
    one = pb.forward(m, betas=betas, body_pose=bp[2:3])
    torch.testing.assert_close(out.vertices[2:3], one.vertices)


# ------------------------------------------------------------------------------------------------
# .pkl files: chumpy-free, restricted, opt-in
# ------------------------------------------------------------------------------------------------
def _fake_chumpy_pickle(arrays: dict, protocol: int) -> bytes:
    """Pickle bytes shaped like SMPL's original files: chumpy.ch.Ch and chumpy.reordering objects plus
    a scipy csc J_regressor. The fake chumpy modules exist only while pickling."""
    pkg, ch_mod, re_mod = (types.ModuleType(n) for n in ("chumpy", "chumpy.ch", "chumpy.reordering"))

    class Ch:  # chumpy pickles its __dict__ minus caches: 'x' holds the array
        def __init__(self, x):
            self.x = np.asarray(x)
            self._dirty_vars = {"x"}
            self._itr = None
            self._depends_on_deps = {}

    class Reshape:
        def __init__(self, a, newshape):
            self.a, self.newshape, self._dirty_vars = a, newshape, set()

    class transpose:  # noqa: N801 (chumpy's name)
        def __init__(self, a, axes):
            self.a, self.axes = a, axes

    for cls, mod in ((Ch, ch_mod), (Reshape, re_mod), (transpose, re_mod)):
        cls.__module__, cls.__qualname__ = mod.__name__, cls.__name__
        setattr(mod, cls.__name__, cls)
    pkg.ch, pkg.reordering = ch_mod, re_mod
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch", "chumpy.reordering")}
    sys.modules.update({"chumpy": pkg, "chumpy.ch": ch_mod, "chumpy.reordering": re_mod})
    try:
        sd = arrays["shapedirs"]
        data = {
            "v_template": Ch(arrays["v_template"]),
            "shapedirs": Reshape(Ch(sd.ravel()), sd.shape),
            "weights": transpose(Ch(arrays["weights"].T.copy()), (1, 0)),
            "posedirs": arrays["posedirs"],
            "J_regressor": scipy.sparse.csc_matrix(arrays["J_regressor"]),
            "kintree_table": arrays["kintree_table"],
            "f": arrays["f"],
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }
        return pickle.dumps(data, protocol=protocol)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:  # pragma: no cover
                sys.modules[k] = v


@pytest.mark.parametrize("protocol", [2, 4])
def test_fake_chumpy_pickle_loads_with_trust_flag(tmp_path, protocol):
    arrays = tiny_smpl_arrays(num_betas=10, posedirs_scale=0.001, seed=7)
    p = tmp_path / "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl"
    p.write_bytes(_fake_chumpy_pickle(arrays, protocol))
    assert "chumpy" not in sys.modules
    got = pb.read_model_arrays(p, trust_pickle=True)
    assert "chumpy" not in sys.modules  # never imported, never faked at load time
    for k in ("v_template", "shapedirs", "weights", "posedirs", "kintree_table", "f"):
        assert isinstance(got[k], np.ndarray), k
        np.testing.assert_array_equal(got[k], arrays[k])
    assert scipy.sparse.issparse(got["J_regressor"])
    np.testing.assert_array_equal(got["J_regressor"].toarray(), arrays["J_regressor"])
    assert got["bs_style"] == "lbs"
    # the whole model: same output as the same arrays saved as .npz, found by folder search too
    np.savez(tmp_path / "ref.npz", **arrays)
    m_pkl = pb.load_body_model(tmp_path, trust_pickle=True)
    assert m_pkl.model_file == str(p)
    m_npz = pb.load_body_model(tmp_path / "ref.npz")
    betas, go, bp, tr = random_inputs(2, 10, seed=9)
    torch.testing.assert_close(pb.forward(m_pkl, betas=betas, body_pose=bp).vertices,
                               pb.forward(m_npz, betas=betas, body_pose=bp).vertices)


def test_pickle_refused_without_trust_flag(tmp_path):
    p = tmp_path / "SMPL_NEUTRAL.pkl"
    p.write_bytes(_fake_chumpy_pickle(tiny_smpl_arrays(), 2))
    with pytest.raises(PermissionError, match="trust_pickle=True"):
        pb.load_body_model(p)
    with pytest.raises(PermissionError, match="trust_pickle=True"):
        pb.load_body_model(tmp_path)


class _Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_pickle_refused_even_with_trust_flag(tmp_path, protocol):
    marker = tmp_path / "pwned"
    arrays = tiny_smpl_arrays()
    for payload in ({**arrays, "v_template": _Evil(f"touch {marker}")}, _Evil(f"touch {marker}"),
                    {**arrays, "f": _EvalEvil()}):
        p = tmp_path / "SMPL_NEUTRAL.pkl"
        p.write_bytes(pickle.dumps(payload, protocol=protocol))
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            pb.load_body_model(p, trust_pickle=True)
    assert not marker.exists()


def test_folder_search_by_gender_and_type(tmp_path):
    save_tiny_smpl(tmp_path / "smpl" / "SMPL_MALE.npz", seed=1)
    save_tiny_smpl(tmp_path / "smpl" / "SMPL_FEMALE.npz", seed=2)
    save_tiny_smpl(tmp_path / "smpl" / "SMPL_NEUTRAL.npz", seed=3)
    assert pb.find_model_file(tmp_path, "female").name == "SMPL_FEMALE.npz"
    m = pb.load_body_model(tmp_path, gender="male")
    np.testing.assert_allclose(m.v_template.numpy(), np.load(tmp_path / "smpl" / "SMPL_MALE.npz")["v_template"], rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="SMPLX"):
        pb.find_model_file(tmp_path, "neutral", model_type="smplx")


# ------------------------------------------------------------------------------------------------
# SMPL-H / SMPL-X files (synthetic, same tiny body with hand / face joints appended)
# ------------------------------------------------------------------------------------------------
def _tiny_with_hands(extra_joints: int, num_shape: int, seed: int = 0):
    base = tiny_smpl_arrays(num_betas=num_shape, seed=seed)
    # SMPL-H/SMPL-X: joints 0..21 as SMPL, then hands (and face) hanging off the wrists (20, 21) / head (15)
    J = 22 + extra_joints
    parents = list(SMPL_PARENTS[:22])
    for h in range(extra_joints):
        parents.append(20 if h < extra_joints // 2 else 21)
    V = base["v_template"].shape[0]
    rng = np.random.default_rng(seed)
    w = base["weights"][:, :22].copy()
    w[:, 20] += base["weights"][:, 22]
    w[:, 21] += base["weights"][:, 23]
    weights = np.concatenate([w, np.zeros((V, extra_joints))], 1)
    jr = np.concatenate([base["J_regressor"][:22], np.tile(base["J_regressor"][20:21], (extra_joints, 1))])
    kt = np.stack([np.array(parents), np.arange(J)])
    kt[0, 0] = 4294967295
    arrays = dict(base, weights=weights, J_regressor=jr, kintree_table=kt,
                  posedirs=np.zeros((V, 3, 9 * (J - 1))),
                  hands_componentsl=rng.standard_normal((45, 45)), hands_componentsr=rng.standard_normal((45, 45)),
                  hands_meanl=np.zeros(45), hands_meanr=np.zeros(45))
    return arrays


def test_smplh_file_gives_smplh_module(tmp_path):
    arrays = _tiny_with_hands(30, 16)
    np.savez(tmp_path / "SMPLH_NEUTRAL.npz", **arrays)
    m = pb.load_body_model(tmp_path, num_betas=16)
    assert type(m) is smplx.SMPLH and m.num_betas == 16
    out = pb.forward(m, betas=torch.randn(2, 16), body_pose=0.2 * torch.randn(2, 63))
    assert out.vertices.shape == (2, arrays["v_template"].shape[0], 3)
    with pytest.raises(ValueError, match=r"\(B, 63\)"):
        pb.forward(m, body_pose=torch.zeros(2, 69))


def test_smplh_without_hand_pca_amass_layout(tmp_path):
    arrays = _tiny_with_hands(30, 16)
    for k in ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr"):
        del arrays[k]
    (tmp_path / "smplh" / "neutral").mkdir(parents=True)
    np.savez(tmp_path / "smplh" / "neutral" / "model.npz", **arrays)
    m = pb.load_body_model(tmp_path, num_betas=16)
    assert type(m) is smplx.SMPLH and not m.use_pca
    hand = 0.3 * torch.randn(2, 45)
    out = pb.forward(m, body_pose=0.2 * torch.randn(2, 63), left_hand_pose=hand)
    assert out.vertices.shape == (2, arrays["v_template"].shape[0], 3)


def test_smplx_file_gives_smplx_module(tmp_path):
    arrays = _tiny_with_hands(33, 20)  # 22 body + 3 face (jaw, eyes) + 30 hand joints = 55
    arrays["lmk_faces_idx"] = np.arange(5)
    arrays["lmk_bary_coords"] = np.full((5, 3), 1 / 3)
    p = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(p, **arrays)
    m = pb.load_body_model(p)
    assert type(m) is smplx.SMPLX and m.num_betas == 10
    out = pb.forward(m, betas=torch.randn(3, 10), body_pose=0.2 * torch.randn(3, 21, 3))
    assert out.vertices.shape[0] == 3 and torch.isfinite(out.vertices).all()
