"""Bad input to the command lines, non-finite outputs and awkward photos: one line, exit status 2, nothing written.

Every command line (``python -m posekit.train|experiments|fit|data``) is called in-process through its
``main(argv)``. The ``no_work`` fixture replaces every piece of work (training, experiments, data loading, priors, photo
fit; ``no_fit_work`` the body model too) by a function that fails the test: each bad argument must be refused
before any of it.
"""
from __future__ import annotations

import io
import json
import types
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from posekit.errors import NonFiniteError


class WorkRan(AssertionError):
    """Raised by the stand-ins of the ``no_work`` fixture: some work ran before the bad input was refused."""


def _forbidden(name):
    def f(*args, **kwargs):
        raise WorkRan(f"{name} ran before the bad input was refused")
    return f


@pytest.fixture
def no_work(monkeypatch):
    import posekit.data
    import posekit.data.dataset
    import posekit.data.report
    import posekit.data.sample
    import posekit.experiments.denoise
    import posekit.experiments.generate
    import posekit.experiments.image_fit
    import posekit.experiments.occlusion
    import posekit.experiments.run_all
    import posekit.photo.fit
    import posekit.priors.store
    import posekit.train.all
    import posekit.train.gmm
    import posekit.train.humor
    import posekit.train.posendf
    import posekit.train.vposer

    for mod in (posekit.train.gmm, posekit.train.vposer, posekit.train.posendf, posekit.train.humor, posekit.train.all):
        monkeypatch.setattr(mod, "train", _forbidden(f"{mod.__name__}.train"))
        monkeypatch.setattr(mod, "run", _forbidden(f"{mod.__name__}.run"))
    for mod in (posekit.experiments.denoise, posekit.experiments.occlusion, posekit.experiments.generate,
                posekit.experiments.image_fit, posekit.experiments.run_all):
        monkeypatch.setattr(mod, "run", _forbidden(f"{mod.__name__}.run"))
    monkeypatch.setattr(posekit.data, "pose_dataset", _forbidden("pose_dataset"))
    monkeypatch.setattr(posekit.data.dataset, "pose_dataset", _forbidden("pose_dataset"))
    monkeypatch.setattr(posekit.data.report, "data_card", _forbidden("data_card"))
    monkeypatch.setattr(posekit.data.sample, "build_sample", _forbidden("build_sample"))
    monkeypatch.setattr(posekit.priors.store, "load_prior", _forbidden("load_prior"))
    monkeypatch.setattr(posekit.photo.fit, "fit_photo", _forbidden("fit_photo"))


@pytest.fixture
def no_fit_work(no_work, monkeypatch):
    """``no_work`` and no body model either (the photo fit loads it after its checks)."""
    import posekit.body

    monkeypatch.setattr(posekit.body, "load_body_model", _forbidden("load_body_model"))


@pytest.fixture
def motions(tmp_path):
    """A folder with one readable AMASS-layout file (24 frames at 30 fps)."""
    d = tmp_path / "motions"
    d.mkdir()
    poses = np.zeros((24, 156))
    poses[:, 3:66] = 0.1
    np.savez(d / "01_01_poses.npz", poses=poses, trans=np.zeros((24, 3)), mocap_framerate=np.float64(30.0))
    return d


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


def _refused(capsys, main, argv, fragment):
    """main(argv) returns 2 with one ``error: ...`` line containing ``fragment`` on stderr and no traceback."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0], err
    return lines[0]


# ---------------------------------------------------------------------------------------------------- train


def _train(*argv):
    from posekit.train.__main__ import main

    return main, list(argv)


@pytest.mark.parametrize("extra, fragment", [
    (["--device", "bogus"], "--device 'bogus': expected cpu, cuda"),
    (["--seed", "1", "--components", "0"], "--components must be > 0"),
    (["--thin", "nan"], "--thin must be a finite number"),
])
def test_train_bad_options(tmp_path, motions, no_work, capsys, extra, fragment):
    main, argv = _train("gmm", "--motions", motions, "--out", tmp_path / "o" / "gmm.npz", *extra)
    _refused(capsys, main, argv, fragment)
    assert not (tmp_path / "o").exists()


def test_train_device_cuda_without_gpu(tmp_path, motions, no_work, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    main, argv = _train("vposer", "--motions", motions, "--out", tmp_path / "v.pt", "--device", "cuda")
    _refused(capsys, main, argv, "--device cuda: no CUDA GPU is available")
    assert not (tmp_path / "v.pt").exists()


def test_train_negative_samples(tmp_path, motions, no_work, capsys):
    main, argv = _train("posendf", "--motions", motions, "--out", tmp_path / "p.pt", "--samples", "-5")
    _refused(capsys, main, argv, "--samples must be > 0, got -5")
    main, argv = _train("posendf", "--motions", motions, "--out", tmp_path / "p.pt", "--epochs", "0")
    _refused(capsys, main, argv, "--epochs must be > 0")
    assert not (tmp_path / "p.pt").exists()


def test_train_out_is_a_folder(tmp_path, motions, no_work, capsys):
    (tmp_path / "dir").mkdir()
    main, argv = _train("gmm", "--motions", motions, "--out", tmp_path / "dir")
    _refused(capsys, main, argv, "is a folder; expected a file path")
    assert _files(tmp_path / "dir") == []


def test_train_out_under_a_file(tmp_path, motions, no_work, capsys):
    (tmp_path / "afile").write_text("x")
    main, argv = _train("gmm", "--motions", motions, "--out", tmp_path / "afile" / "gmm.npz")
    _refused(capsys, main, argv, "is a file, so nothing can be written under it")
    assert (tmp_path / "afile").read_text() == "x"


def test_train_existing_prior_needs_overwrite(tmp_path, motions, no_work, capsys):
    out = tmp_path / "gmm.npz"
    out.write_bytes(b"an earlier prior")
    main, argv = _train("gmm", "--motions", motions, "--out", out)
    _refused(capsys, main, argv, "the file exists; pass --overwrite to replace it")
    assert out.read_bytes() == b"an earlier prior"
    # with --overwrite the arguments pass: the (stand-in) training runs
    with pytest.raises(WorkRan):
        main([*map(str, argv), "--overwrite"])


def test_train_motions_with_only_bad_files(tmp_path, no_work, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "01_01.bvh").write_text("not a bvh file\n")
    (bad / "02_01.bvh").write_text("HIERARCHY\nROOT\n")
    main, argv = _train("gmm", "--motions", bad, "--out", tmp_path / "gmm.npz")
    _refused(capsys, main, argv, "none of its 2 motion file(s) could be read")
    assert not (tmp_path / "gmm.npz").exists()


def test_train_motions_missing_or_a_file(tmp_path, no_work, capsys):
    main, argv = _train("gmm", "--motions", tmp_path / "nowhere", "--out", tmp_path / "gmm.npz")
    _refused(capsys, main, argv, "motion folder not found")
    (tmp_path / "m.bvh").write_text("x")
    main, argv = _train("gmm", "--motions", tmp_path / "m.bvh", "--out", tmp_path / "gmm.npz")
    _refused(capsys, main, argv, "is a file; expected a folder of motion files")
    assert not (tmp_path / "gmm.npz").exists()


@pytest.mark.parametrize("priors, fragment", [("bogus", "unknown or unavailable prior(s) ['bogus']"),
                                              ("", "expected a comma list of priors")])
def test_train_all_bad_priors(tmp_path, motions, no_work, capsys, priors, fragment):
    main, argv = _train("all", "--motions", motions, "--out", tmp_path / "o", "--priors", priors)
    _refused(capsys, main, argv, fragment)
    assert not (tmp_path / "o").exists()


def test_train_all_out_is_a_file(tmp_path, motions, no_work, capsys):
    (tmp_path / "afile").write_text("x")
    main, argv = _train("all", "--motions", motions, "--out", tmp_path / "afile")
    _refused(capsys, main, argv, "is a file; expected a folder")


# ---------------------------------------------------------------------------------------------------- experiments


def _exp(name, tmp_path, motions, *extra):
    from posekit.experiments.__main__ import main

    return main, [name, "--motions", motions, "--priors", tmp_path / "priors", "--out", tmp_path / "out", *extra]


@pytest.mark.parametrize("name, extra, fragment", [
    ("denoise", ["--methods", "none,bogus"], "--methods: unknown ['bogus']"),
    ("denoise", ["--methods", ""], "--methods: expected a comma list"),
    ("image-fit", ["--methods", ""], "--methods: expected a comma list"),
    ("image-fit", ["--methods", "none,humor"], "--methods: unknown ['humor']"),
    ("denoise", ["--sigmas", "-1"], "--sigmas must be ≥ 0, got '-1'"),
    ("denoise", ["--sigmas", "nan"], "--sigmas must be a finite number, got 'nan'"),
    ("all", ["--sigmas", "0.1,inf"], "--sigmas must be a finite number, got 'inf'"),
    ("denoise", ["--sigmas", ""], "--sigmas: expected a comma list of numbers"),
    ("occlusion", ["--parts", "bogus"], "--parts: unknown ['bogus']"),
    ("occlusion", ["--parts", ""], "--parts: empty"),
    ("generate", ["--samples", "-5"], "--samples must be > 0, got -5"),
    ("generate", ["--samples", "1"], "--samples must be at least 2"),
    ("denoise", ["--clips", "0"], "--clips must be > 0, got 0"),
    ("occlusion", ["--steps", "0"], "--steps must be > 0, got 0"),
    ("denoise", ["--fps", "0"], "--fps must be > 0"),
    ("denoise", ["--val-clips", "0"], "--val-clips must be > 0"),
    ("denoise", ["--lengths", "1"], "--lengths: a clip needs at least 2 frames"),
    ("denoise", ["--prior-weights", "gmm=nan"], "--prior-weights gmm must be a finite number"),
    ("occlusion", ["--smooth-weight", "-1"], "--smooth-weight must be ≥ 0"),
    ("image-fit", ["--n-images", "0"], "--n-images must be > 0"),
    ("image-fit", ["--prior-scales", "gmm=-1"], "--prior-scales gmm must be ≥ 0"),
    ("all", ["--skip", "bogus"], "--skip: unknown experiment(s) ['bogus']"),
    ("all", ["--methods", "none,bogus"], "--methods: unknown ['bogus']"),
    ("generate", ["--device", "bogus"], "--device 'bogus': expected cpu, cuda"),
])
def test_experiment_bad_options(tmp_path, motions, no_work, capsys, name, extra, fragment):
    main, argv = _exp(name, tmp_path, motions, *extra)
    _refused(capsys, main, argv, fragment)
    assert not (tmp_path / "out").exists() and not (tmp_path / "priors").exists()


def test_experiment_device_cuda_without_gpu(tmp_path, motions, no_work, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    main, argv = _exp("denoise", tmp_path, motions, "--device", "cuda")
    _refused(capsys, main, argv, "no CUDA GPU is available")
    assert not (tmp_path / "out").exists()


def test_experiment_priors_is_a_file(tmp_path, motions, no_work, capsys):
    from posekit.experiments.__main__ import main

    (tmp_path / "gmm.npz").write_bytes(b"x")
    _refused(capsys, main, ["denoise", "--motions", motions, "--priors", tmp_path / "gmm.npz", "--out",
                            tmp_path / "out"], "--priors")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["file", "under-file", "results-folder"])
def test_experiment_out_unusable(tmp_path, motions, no_work, capsys, where):
    from posekit.experiments.__main__ import main

    (tmp_path / "afile").write_text("x")
    out = {"file": tmp_path / "afile", "under-file": tmp_path / "afile" / "out",
           "results-folder": tmp_path / "o"}[where]
    if where == "results-folder":
        (out / "results.csv").mkdir(parents=True)
    fragment = {"file": "is a file; expected a folder", "under-file": "is a file, so no folder can be made under it",
                "results-folder": "results.csv: is a folder; expected a file path"}[where]
    _refused(capsys, main, ["occlusion", "--motions", motions, "--priors", tmp_path / "p", "--out", out], fragment)
    assert (tmp_path / "afile").read_text() == "x" and not (tmp_path / "p").exists()


def test_experiment_motions_with_only_bad_files(tmp_path, no_work, capsys):
    from posekit.experiments.__main__ import main

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "12_01.bvh").write_text("garbage\n")
    _refused(capsys, main, ["denoise", "--motions", bad, "--priors", tmp_path / "p", "--out", tmp_path / "out"],
             "none of its 1 motion file(s) could be read")
    assert not (tmp_path / "out").exists()


def test_run_experiment_checks_options_too(tmp_path, no_work):
    from posekit.errors import InputError
    from posekit.experiments.__main__ import run_experiment

    with pytest.raises(InputError, match="--steps must be > 0"):
        run_experiment("denoise", motions=tmp_path, priors=tmp_path / "p", out=tmp_path / "o", steps=0)


# ---------------------------------------------------------------------------------------------------- results


def _row(value, std=0.1, method="gmm"):
    return {"experiment": "denoise", "setting": "sigma=0.1,frames=60", "method": method, "metric": "v2v_cm",
            "value": value, "std": std, "n": 2}


@pytest.mark.parametrize("value, std", [(float("nan"), 0.1), (float("inf"), 0.1), (1.0, float("inf"))])
def test_write_results_refuses_non_finite_rows(tmp_path, value, std):
    from posekit.experiments.report import write_results

    with pytest.raises(NonFiniteError, match=r"denoise for method 'posendf', setting 'sigma=0.1,frames=60'"):
        write_results([_row(1.0), _row(value, std, method="posendf")], tmp_path)
    assert _files(tmp_path) == []
    write_results([_row(1.0, float("nan"))], tmp_path)          # std NaN (one value) stays allowed
    assert (tmp_path / "results.csv").exists()


def test_experiment_cli_with_nan_results_exits_2_and_writes_no_results(tmp_path, motions, monkeypatch, capsys):
    import posekit.experiments.generate as generate
    from posekit.experiments.__main__ import main

    monkeypatch.setattr(generate, "run", lambda args: [_row(float("nan"), method="none") | {"experiment": "generate"}])
    _refused(capsys, main, ["generate", "--motions", motions, "--priors", tmp_path / "p", "--out", tmp_path / "out"],
             "result of generate for method 'none'")
    assert not (tmp_path / "out" / "results.csv").exists()


def test_save_weights_refuses_non_finite(tmp_path):
    from posekit.experiments.common import save_weights

    with pytest.raises(NonFiniteError, match="weight sigma=0.1 gmm"):
        save_weights(tmp_path / "w.json", {"sigma=0.1": {"gmm": float("nan"), "smooth": 1.0}})
    assert not (tmp_path / "w.json").exists()


# ---------------------------------------------------------------------------------------------------- motion fit


def test_fit_motion_refuses_nan_observations_up_front():
    from posekit.fitting.motion import Clip, fit_motion

    T = 5
    clip = Clip("walk", torch.zeros(T, 3), torch.zeros(T, 21, 3), torch.zeros(T, 3))
    obs = torch.zeros(T, 24, 3)
    obs[2, 18] = float("nan")                                     # left_elbow of frame 2
    obs[4, 18, 0] = float("inf")
    # body=None: the check must come before any forward pass
    with pytest.raises(NonFiniteError, match=r"clip 'walk'.*frame\(s\) 2, 4, joint\(s\) left_elbow"):
        fit_motion(None, clip, obs)
    mask = torch.ones(24, dtype=torch.bool)
    mask[18] = False                                              # a hidden joint's NaN does not matter
    init = torch.zeros(T, 21, 3)
    init[0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"start poses .* frame\(s\) 0, joint\(s\) left_hip"):
        fit_motion(None, clip, obs, joint_mask=mask, init_body21=init)


# ---------------------------------------------------------------------------------------------------- photo fit CLI


@pytest.fixture
def sample():
    from posekit.fit.synthetic import load_sample

    return load_sample()


def _fit(*argv):
    from posekit.fit.__main__ import main

    return main, ["image", *argv]


def _keypoints_file(tmp_path, sample, **change):
    d = {"keypoints": sample["keypoints_2d"], "confidence": [1.0] * 14, **change}
    p = tmp_path / "kp.json"
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize("extra, fragment", [
    (["--iters", "0"], "--iters must be > 0"),
    (["--focal", "nan"], "--focal must be a finite number"),
    (["--focal", "-100"], "--focal must be > 0"),
    (["--max-side", "4"], "--max-side must be at least 16 px"),
    (["--box", "300,10,100,500"], "expected X0,Y0,X1,Y1 with X0 < X1"),
])
def test_fit_bad_options(tmp_path, sample, no_fit_work, capsys, extra, fragment):
    main, argv = _fit(sample["path"], "--out", tmp_path / "out", "--keypoints", _keypoints_file(tmp_path, sample),
                      *extra)
    _refused(capsys, main, argv, fragment)
    assert not (tmp_path / "out").exists()


def test_fit_keypoints_with_nan_are_refused(tmp_path, sample, no_fit_work, capsys):
    kp = [list(p) for p in sample["keypoints_2d"]]
    kp[3] = [float("nan"), 10.0]
    main, argv = _fit(sample["path"], "--out", tmp_path / "out", "--keypoints", _keypoints_file(tmp_path, sample,
                                                                                                 keypoints=kp))
    _refused(capsys, main, argv, "keypoints [3] are not finite numbers")
    main, argv = _fit(sample["path"], "--out", tmp_path / "out", "--keypoints",
                      _keypoints_file(tmp_path, sample, confidence=[0.0] * 14))
    _refused(capsys, main, argv, "at least one of them > 0")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["file", "under-file", "mesh-folder"])
def test_fit_out_unusable(tmp_path, sample, no_fit_work, capsys, where):
    (tmp_path / "afile").write_text("x")
    out = {"file": tmp_path / "afile", "under-file": tmp_path / "afile" / "o", "mesh-folder": tmp_path / "o"}[where]
    if where == "mesh-folder":
        (out / "person_0" / "mesh.obj").mkdir(parents=True)
    main, argv = _fit(sample["path"], "--out", out, "--keypoints", _keypoints_file(tmp_path, sample))
    _refused(capsys, main, argv, "--out")
    assert (tmp_path / "afile").read_text() == "x"
    if where == "mesh-folder":
        assert _files(out) == ["person_0", "person_0/mesh.obj"]


def test_fit_priors_is_a_file_or_missing(tmp_path, sample, no_fit_work, capsys):
    (tmp_path / "gmm.npz").write_bytes(b"x")
    main, argv = _fit(sample["path"], "--out", tmp_path / "out", "--keypoints", _keypoints_file(tmp_path, sample),
                      "--priors", tmp_path / "gmm.npz")
    _refused(capsys, main, argv, "is a file; expected a folder of trained priors")
    main, argv = _fit(sample["path"], "--out", tmp_path / "out", "--keypoints", _keypoints_file(tmp_path, sample),
                      "--priors", tmp_path / "nowhere")
    _refused(capsys, main, argv, "no such folder")
    assert not (tmp_path / "out").exists()


def test_fit_photo_missing_or_a_folder(tmp_path, sample, no_fit_work, capsys):
    kp = _keypoints_file(tmp_path, sample)
    main, argv = _fit(tmp_path / "missing.jpg", "--out", tmp_path / "out", "--keypoints", kp)
    _refused(capsys, main, argv, "no such image file")
    main, argv = _fit(tmp_path, "--out", tmp_path / "out", "--keypoints", kp)
    _refused(capsys, main, argv, "is a folder; expected an image file")
    assert not (tmp_path / "out").exists()


def test_fit_one_pixel_image(tmp_path, sample, no_fit_work, capsys):
    Image.new("RGB", (1, 1), (200, 10, 10)).save(tmp_path / "dot.png")
    main, argv = _fit(tmp_path / "dot.png", "--out", tmp_path / "out", "--keypoints", _keypoints_file(tmp_path, sample))
    _refused(capsys, main, argv, "the image is 1×1 px; a photo of a person needs at least 16 px")
    assert not (tmp_path / "out").exists()


def test_fit_box_outside_the_photo(tmp_path, sample, no_fit_work, capsys):
    main, argv = _fit(sample["path"], "--out", tmp_path / "out", "--keypoints", _keypoints_file(tmp_path, sample),
                      "--box", "5000,0,6000,100")
    _refused(capsys, main, argv, "lies outside the 640×800 px photo")
    assert not (tmp_path / "out").exists()


def _huge_jpeg_header(path, width, height):
    """A JPEG whose header says width × height (its data is a 16×16 image): PIL reads the size without decoding."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    i = data.find(b"\xff\xc0")                                    # baseline SOF0: length, precision, height, width
    data[i + 5:i + 7] = height.to_bytes(2, "big")
    data[i + 7:i + 9] = width.to_bytes(2, "big")
    path.write_bytes(bytes(data))
    return path


def test_fit_decompression_bomb_is_one_line(tmp_path, sample, no_fit_work, capsys):
    photo = _huge_jpeg_header(tmp_path / "huge.jpg", 20000, 15000)
    main, argv = _fit(photo, "--out", tmp_path / "out", "--keypoints", _keypoints_file(tmp_path, sample))
    line = _refused(capsys, main, argv, "the image is too large (300 megapixels)")
    assert "up to 150 megapixels" in line
    assert not (tmp_path / "out").exists()


def test_fit_detector_missing_is_refused_before_work(tmp_path, sample, no_fit_work, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mediapipe", None)
    main, argv = _fit(sample["path"], "--out", tmp_path / "out")
    _refused(capsys, main, argv, "make photo")
    assert not (tmp_path / "out").exists()


def _nan_result(sample):
    from posekit.photo.io import load_image

    photo = load_image(sample["path"])
    fit = {"betas": torch.zeros(1, 10), "global_orient": torch.zeros(1, 3), "body_pose": torch.zeros(1, 69),
           "transl": torch.tensor([[0.0, 0.0, 3.0]]), "vertices": torch.zeros(1, 8, 3),
           "projected": torch.zeros(1, 14, 2), "energies": {"total": torch.ones(1)},
           "flipped": torch.zeros(1, dtype=bool)}
    fit["body_pose"][0, 5] = float("nan")
    cam = {"focal_length": 1000.0, "center": (320.0, 400.0), "size": (640, 800), "source": "given"}
    return {"photo": photo, "camera": cam, "keypoints": np.zeros((14, 2)), "confidence": np.ones(14), "fit": fit,
            "prior": "gmm", "times": {"load": 0.0, "detect": 0.0, "fit": 0.0}}


def test_fit_with_nan_writes_nothing(tmp_path, sample, no_fit_work, capsys, monkeypatch):
    import posekit.body
    import posekit.photo.fit
    from posekit.fit.outputs import write_outputs

    result = _nan_result(sample)
    with pytest.raises(NonFiniteError, match="body_pose of the fit has 1 NaN of 69 values"):
        write_outputs(result, np.zeros((1, 3), np.int64), tmp_path / "o")
    assert not (tmp_path / "o").exists()
    # the command line: exit status 2, one line, no fit.json / mesh.obj
    monkeypatch.setattr(posekit.body, "load_body_model", lambda **kw: types.SimpleNamespace(faces=np.zeros((1, 3))))
    monkeypatch.setattr(posekit.photo.fit, "fit_photo", lambda *a, **kw: result)
    main, argv = _fit(sample["path"], "--out", tmp_path / "out", "--keypoints", _keypoints_file(tmp_path, sample))
    _refused(capsys, main, argv, "body_pose of the fit has 1 NaN")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------- photo inputs


def test_16_bit_grey_png_is_scaled_to_8_bits(tmp_path):
    from posekit.photo import load_image

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (32, 1))
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    img = load_image(tmp_path / "grey16.png").image
    assert img.shape == (32, 64, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [0, 0, 0] and img[0, -1].tolist() == [255, 255, 255]
    np.testing.assert_allclose(img[0, :, 0], ramp[0] / 257.0, atol=0.51)      # a ramp, not all white
    assert load_image(ramp).image[0, 32, 0] == img[0, 32, 0]                 # uint16 arrays alike


def test_large_photo_below_the_limit_loads_without_the_bomb_warning(tmp_path):
    from posekit.photo import load_image

    Image.new("L", (12000, 9000), 90).save(tmp_path / "big.jpg", quality=50)      # 108 MP: PIL warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        photo = load_image(tmp_path / "big.jpg")
    assert photo.size == (1600, 1200) and photo.original_size == (12000, 9000)
    assert photo.image.shape == (1200, 1600, 3) and abs(int(photo.image[600, 800, 0]) - 90) <= 2


def test_photo_above_the_pixel_limit_is_refused(tmp_path, monkeypatch):
    from posekit.photo import NotAnImageError, load_image
    from posekit.photo import io as photo_io

    with pytest.raises(NotAnImageError, match=r"too large \(300 megapixels\).*up to 150 megapixels"):
        load_image(_huge_jpeg_header(tmp_path / "huge.jpg", 20000, 15000))
    with pytest.raises(NotAnImageError, match=r"13000×12000 px = 156 megapixels"):       # PIL only warns there
        load_image(_huge_jpeg_header(tmp_path / "big.jpg", 13000, 12000))
    monkeypatch.setattr(photo_io, "MAX_PIXELS", 1000)
    with pytest.raises(NotAnImageError, match="too large"):
        load_image(np.zeros((40, 40, 3), np.uint8))


class _CapturingDetector:
    """Stands in for MediaPipe: records the arrays it is given, answers with landmarks at the crop's centre."""

    def __init__(self):
        self.seen = []

    def landmarks(self, rgb):
        self.seen.append(rgb)
        H, W = rgb.shape[:2]
        return np.tile([W / 2, H / 2], (33, 1)).astype(float), np.ones(33)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "I;16", "CMYK", "RGBA"])
def test_every_picture_mode_reaches_the_detector_as_rgb(mode):
    from posekit.photo.detect import detect_keypoints

    im = Image.new(mode, (64, 48))
    det = _CapturingDetector()
    kp, conf = detect_keypoints(im, detector=det)
    (rgb,) = det.seen
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8 and kp.shape == (14, 2)
    det = _CapturingDetector()
    detect_keypoints(np.zeros((48, 64), np.uint8), detector=det)              # a grey array too
    assert det.seen[0].shape == (48, 64, 3)


def test_box_is_read_in_pixels_of_the_original_photo(tmp_path):
    from posekit.photo.fit import fit_photo

    big = np.zeros((2400, 3200, 3), np.uint8)                                   # downscaled to 1600 × 1200: scale 0.5
    det = _CapturingDetector()

    class Stop(Exception):
        pass

    def landmarks(rgb):
        det.seen.append(rgb)
        raise Stop
    det.landmarks = landmarks
    with pytest.raises(Stop):
        fit_photo(big, prior=None, body_model=object(), box=(1000, 800, 2000, 1600), detector=det)
    assert det.seen[0].shape == (400, 500, 3)                                  # (1600-800)/2 × (2000-1000)/2
    from posekit.photo import PhotoError
    with pytest.raises(PhotoError, match="lies outside the 3200×2400 px photo"):
        fit_photo(big, prior=None, body_model=object(), box=(3300, 0, 3400, 100), detector=det)


def test_tiny_image_is_a_clear_error_before_detection():
    from posekit.photo import NotAnImageError
    from posekit.photo.fit import fit_photo

    with pytest.raises(NotAnImageError, match="1×1 px"):
        fit_photo(np.zeros((1, 1, 3), np.uint8), prior=None, body_model=object(), detector=_CapturingDetector())


def test_detection_without_a_visible_keypoint_is_no_person():
    from posekit.photo import NoPersonError
    from posekit.photo.fit import fit_photo

    det = _CapturingDetector()
    det.landmarks = lambda rgb: (np.full((33, 2), 10.0), np.zeros(33))
    with pytest.raises(NoPersonError, match="none of its 14"):
        fit_photo(np.zeros((64, 64, 3), np.uint8), prior=None, body_model=object(), detector=det)


# ---------------------------------------------------------------------------------------------------- data CLI


def test_data_report_json_is_a_folder(tmp_path, motions, no_work, capsys):
    from posekit.data.__main__ import main

    (tmp_path / "card").mkdir()
    _refused(capsys, main, ["report", "--motions", motions, "--json", tmp_path / "card"], "--json")
    assert _files(tmp_path / "card") == []


def test_data_sample_out_is_a_file_or_a_foreign_folder(tmp_path, motions, no_work, capsys):
    from posekit.data.__main__ import main

    (tmp_path / "afile").write_text("x")
    _refused(capsys, main, ["sample", "--motions", motions, "--out", tmp_path / "afile"],
             "is a file; expected a folder")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    _refused(capsys, main, ["sample", "--motions", motions, "--out", tmp_path / "mine"], "not a sample folder")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_data_report_missing_folder(tmp_path, no_work, capsys):
    from posekit.data.__main__ import main

    line = _refused(capsys, main, ["report", "--motions", tmp_path / "nowhere"], "motion folder not found")
    assert "POSEKIT_DATA" in line
