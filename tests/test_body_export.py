"""The open model exported as a chumpy-free pickle loads with plain smplx by path, and matches."""
import json

import pytest
import smplx
import torch

import posekit.body as pb


def test_exported_pickle_loads_with_plain_smplx(tmp_path):
    pkl = pb.export_smpl_pickle(tmp_path / "smpl")        # smplx.create looks in <root>/smpl/
    ids = json.loads((tmp_path / "smpl" / "SMPL_NEUTRAL_vertex_ids.json").read_text())
    plain = smplx.SMPL(model_path=str(pkl), vertex_ids=ids)                 # smplx reads the pickle itself
    created = smplx.create(str(tmp_path), model_type="smpl", gender="neutral", vertex_ids=ids)
    ours = pb.load_body_model()
    g = torch.Generator().manual_seed(0)
    betas, pose = torch.randn(1, 10, generator=g), 0.4 * torch.randn(1, 69, generator=g)
    ref = ours(betas=betas, body_pose=pose)
    for m in (plain, created):
        out = m(betas=betas, body_pose=pose)
        torch.testing.assert_close(out.vertices, ref.vertices, atol=1e-5, rtol=0)
        torch.testing.assert_close(out.joints, ref.joints, atol=1e-5, rtol=0)
    assert out.joints.shape[1] == ref.joints.shape[1] > 24                  # smplx's extra keypoints work


def test_export_refuses_a_file_path(tmp_path):
    with pytest.raises(ValueError, match="must be a folder"):
        pb.export_smpl_pickle(tmp_path / "model.pkl")
