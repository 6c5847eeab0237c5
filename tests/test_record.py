"""The table of record: parts merged with their per-clip values, verdicts with paired CIs, read back."""
import json

import numpy as np
import pytest

from posekit.errors import InputError
from posekit.experiments.record import PARTS, VERDICT_COLUMNS, assemble, load_record, main
from posekit.experiments.report import write_results
from posekit.experiments.verdicts import AGREES, CONTRADICTS


def _part(folder, part, rows):
    write_results(rows, folder / part)
    (folder / part / "part.json").write_text(json.dumps({"part": part, "command": "x", "seconds": 1.0}))


def _rows(experiment, metric, setting, values):
    return [{"experiment": experiment, "setting": setting, "method": m, "metric": metric, "value": float(np.mean(v)),
             "std": float(np.std(v)), "n": len(v), "units": [f"{i}:c" for i in range(len(v))], "values": list(v)}
            for m, v in values.items()]


def test_record_settings_conclude():
    """≥ 16 clips per setting and ≥ 64 image views, as the record promises."""
    assert int(PARTS["denoise"][PARTS["denoise"].index("--clips") + 1]) >= 16
    assert int(PARTS["occlusion"][PARTS["occlusion"].index("--clips") + 1]) >= 16
    assert int(PARTS["image-fit"][PARTS["image-fit"].index("--n-images") + 1]) >= 64


def test_assemble_and_load(tmp_path):
    base = np.linspace(2.0, 8.0, 16)
    _part(tmp_path / "parts", "denoise", _rows("denoise", "v2v_cm", "sigma=0.1,frames=60",
                                                {"none": base + 1.0, "posendf": base, "vposer": base - 0.5}))
    out = assemble(tmp_path / "parts", tmp_path / "record")
    rec = load_record(out)
    assert len(rec["rows"]) == 3 and all(len(r["values"]) == 16 for r in rec["rows"])
    assert rec["meta"]["missing_parts"] == [p for p in PARTS if p != "denoise"]
    v = {(r["lower"], r["higher"]): r for r in rec["verdicts"]}
    assert tuple(rec["verdicts"][0]) == VERDICT_COLUMNS
    assert v[("posendf", "none")]["verdict"] == AGREES and v[("posendf", "vposer")]["verdict"] == CONTRADICTS
    assert int(v[("posendf", "vposer")]["n"]) == 16
    assert "contradicts in 1" in (out / "record.md").read_text()


def test_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(InputError, match="no table of record"):
        load_record(tmp_path)
    assert main(["assemble", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "no finished part" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_variant_part_gets_its_setting_suffix_and_its_own_verdicts(tmp_path):
    """denoise-vposer-energy's rows keep their method names; their settings carry ",vposer=energy", so they sit
    beside the latent run's rows and are compared with their own no-prior rows only."""
    from posekit.experiments.record import SETTING_SUFFIX

    base = np.linspace(2.0, 8.0, 16)
    _part(tmp_path / "parts", "denoise", _rows("denoise", "v2v_cm", "sigma=0.1,frames=60",
                                                {"none": base + 1.0, "vposer": base - 0.5}))
    _part(tmp_path / "parts", "denoise-vposer-energy", _rows("denoise", "v2v_cm", "sigma=0.1,frames=60",
                                                              {"none": base + 1.0, "vposer": base + 2.0}))
    rec = load_record(assemble(tmp_path / "parts", tmp_path / "record"))
    settings = {(r["setting"], r["method"]) for r in rec["rows"]}
    suffix = SETTING_SUFFIX["denoise-vposer-energy"]
    assert settings == {("sigma=0.1,frames=60", "none"), ("sigma=0.1,frames=60", "vposer"),
                        ("sigma=0.1,frames=60" + suffix, "none"), ("sigma=0.1,frames=60" + suffix, "vposer")}
    v = {(r["setting"], r["lower"], r["higher"]): r["verdict"] for r in rec["verdicts"]}
    assert v[("sigma=0.1,frames=60", "vposer", "none")] == AGREES
    assert v[("sigma=0.1,frames=60" + suffix, "vposer", "none")] == CONTRADICTS


def test_coverage_part_is_carried_into_the_record(tmp_path):
    from posekit.experiments.coverage import COVERAGE_COLUMNS

    folder = tmp_path / "parts" / "coverage"
    folder.mkdir(parents=True)
    (folder / "coverage.csv").write_text(",".join(COVERAGE_COLUMNS) + "\nval_to_train,3,0,900,200,0.61,0.5,0.7\n")
    (folder / "part.json").write_text(json.dumps({"part": "coverage", "command": "x", "seconds": 1.0}))
    _part(tmp_path / "parts", "generate", _rows("generate", "apd_cm", "n=100", {"none": np.arange(1.0, 7.0)}))
    (tmp_path / "parts" / "generate" / "weights_generate.json").write_text('{"w": 1}')
    out = assemble(tmp_path / "parts", tmp_path / "record")
    assert json.loads((out / "parts" / "generate" / "weights_generate.json").read_text()) == {"w": 1}
    rec = load_record(out)
    assert rec["coverage"] == [{"quantity": "val_to_train", "train_subjects": 3, "draw": 0, "n_train_poses": 900,
                                "n_val_poses": 200, "median": 0.61, "q25": 0.5, "q75": 0.7}]
    assert "coverage" not in rec["meta"]["missing_parts"]


def test_fast_parts_keep_the_variant_options(tmp_path, monkeypatch):
    """A --fast smoke run of a variant part runs the same variant (methods, VPoser mode), not the plain experiment."""
    import posekit.experiments.__main__ as cli
    from posekit.experiments.record import run_part

    seen = []

    def fake_main(argv):
        seen.append(argv)
        return 0

    monkeypatch.setattr(cli, "main", fake_main)
    run_part("denoise-vposer-energy", "synthetic", tmp_path, fast=True)
    argv = seen[0]
    assert argv[0] == "denoise" and "--fast" in argv and "--clips" not in argv
    assert argv[argv.index("--methods") + 1] == "none,vposer" and argv[argv.index("--vposer-mode") + 1] == "energy"
    assert json.loads((tmp_path / "denoise-vposer-energy" / "part.json").read_text())["command"].startswith(
        "python -m posekit.experiments denoise --methods none,vposer --vposer-mode energy --fast")


def test_shards_of_a_part_are_merged(tmp_path, monkeypatch):
    """A part run in pieces (--shard, --extra) lands in OUT/PART.SHARD; assemble merges the pieces as one part."""
    import posekit.experiments.__main__ as cli
    from posekit.experiments.record import run_part

    seen = []

    def fake_main(argv):
        seen.append(argv)
        sigma = argv[argv.index("--sigmas", argv.index("--sigmas") + 1) + 1]          # the shard's own, last
        _part_rows = _rows("denoise", "v2v_cm", f"sigma={sigma},frames=60",
                           {"none": np.arange(16.0) + 1, "vposer": np.arange(16.0)})
        write_results(_part_rows, argv[argv.index("--out") + 1])
        return 0

    monkeypatch.setattr(cli, "main", fake_main)
    for sigma in ("0.1", "0.5"):
        run_part("denoise", "synthetic", tmp_path / "parts", extra=["--sigmas", sigma], shard=f"s{sigma}", note="n")
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == ["denoise.s0.1", "denoise.s0.5"]
    assert seen[0][-2:] == ["--sigmas", "0.1"]
    meta = json.loads((tmp_path / "parts" / "denoise.s0.1" / "part.json").read_text())
    assert meta["part"] == "denoise" and meta["shard"] == "s0.1" and meta["note"] == "n"
    rec = load_record(assemble(tmp_path / "parts", tmp_path / "record"))
    assert {r["setting"] for r in rec["rows"]} == {"sigma=0.1,frames=60", "sigma=0.5,frames=60"}
    assert "denoise" not in rec["meta"]["missing_parts"]
    with pytest.raises(InputError, match="shard"):
        run_part("denoise", "synthetic", tmp_path / "parts", shard="../x")


def test_shipped_commands_name_no_machine_folder():
    from posekit.experiments.record import portable_command

    cmd = ("python -m posekit.experiments denoise --clips 16 --motions /work/shared/data/cmu --out /tmp/r/denoise.s0.5 "
           "--priors /tmp/r/priors --seed 0 --sigmas 0.5")
    assert portable_command(cmd) == ("python -m posekit.experiments denoise --clips 16 --motions MOTIONS --out OUT "
                                     "--priors PRIORS --seed 0 --sigmas 0.5")


def test_a_shard_adding_a_method_merges_with_the_part_and_conflicts_are_refused(tmp_path):
    base = np.linspace(2.0, 8.0, 16)
    noisy = _rows("denoise", "noisy_input_v2v_cm", "sigma=0.1,frames=60", {"none": base + 3.0})
    _part(tmp_path / "parts", "denoise", noisy + _rows("denoise", "v2v_cm", "sigma=0.1,frames=60",
                                                       {"none": base + 1.0, "vposer": base - 0.5}))
    # the new method's shard measures the same noisy input again: merged, not doubled
    _part(tmp_path / "parts", "denoise.new", noisy + _rows("denoise", "v2v_cm", "sigma=0.1,frames=60",
                                                           {"posendf": base}))
    rec = load_record(assemble(tmp_path / "parts", tmp_path / "record"))
    keys = [(r["setting"], r["method"], r["metric"]) for r in rec["rows"]]
    assert len(keys) == len(set(keys)) == 4
    assert {m for _, m, k in keys if k == "v2v_cm"} == {"none", "vposer", "posendf"}
    # a timing differs with the machine's load: the first is kept
    _part(tmp_path / "parts", "denoise.timing", _rows("denoise", "fit_ms_per_image", "sigma=0.1,frames=60",
                                                      {"none": base}))
    _part(tmp_path / "parts", "denoise.timing2", _rows("denoise", "fit_ms_per_image", "sigma=0.1,frames=60",
                                                       {"none": base * 3}))
    rec = load_record(assemble(tmp_path / "parts", tmp_path / "record1"))
    (t,) = [r for r in rec["rows"] if r["metric"] == "fit_ms_per_image"]
    assert t["value"] == pytest.approx(base.mean())
    # the same method measured differently by two parts is an error, not a silent pick
    _part(tmp_path / "parts", "denoise.again", _rows("denoise", "v2v_cm", "sigma=0.1,frames=60", {"posendf": base + 1}))
    with pytest.raises(InputError, match="measured .* differently"):
        assemble(tmp_path / "parts", tmp_path / "record2")
