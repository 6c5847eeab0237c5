"""``python -m posekit.train all --priors ...`` keeps the manifest entries of the priors it does not retrain."""
import json
import shutil

from posekit.data.download import sha256_file
from posekit.priors import store
from posekit.train.all import kept_entries


def _folder(tmp_path):
    src = store.pretrained_dir()
    out = tmp_path / "priors"
    out.mkdir()
    man = json.loads((src / "manifest.json").read_text())
    for e in man["priors"].values():
        shutil.copy(src / e["file"], out / e["file"])
    (out / "manifest.json").write_text(json.dumps(man))
    return out, man


def test_kept_entries_are_the_unchanged_files_of_the_same_recipe(tmp_path):
    out, man = _folder(tmp_path)
    args = (man["motions"], man["trials"], man["fast"], man["seed"])
    kept = kept_entries(out, *args, retrained=["humor"])
    assert set(kept) == set(man["priors"]) - {"humor"}
    assert all(kept[n] == man["priors"][n] for n in kept)
    # a changed file is not described by its entry any more
    (out / "gmm.npz").write_bytes(b"not the trained file")
    assert sha256_file(out / "gmm.npz") != man["priors"]["gmm"]["sha256"]
    assert "gmm" not in kept_entries(out, *args, retrained=["humor"])
    # another seed, other data or no manifest: nothing is kept
    assert kept_entries(out, man["motions"], man["trials"], man["fast"], man["seed"] + 1, ["humor"]) == {}
    assert kept_entries(out, "/elsewhere", man["trials"], man["fast"], man["seed"], ["humor"]) == {}
    assert kept_entries(tmp_path, *args, retrained=["humor"]) == {}
