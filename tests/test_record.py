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
    assert rec["meta"]["missing_parts"] == ["occlusion", "image-fit", "generate"]
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
