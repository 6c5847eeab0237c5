"""The package's layers: no import cycle between modules, no lower layer importing a higher one.

Every ``import`` / ``from ... import`` in posekit (module level and inside functions) is read with ``ast``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1] / "posekit"

#: rank of each part of the package; a module may import modules of a lower or equal rank
#: (``viz`` is apart: it may import only ``VIZ_MAY_IMPORT``, and only ``VIZ_USERS`` may import it).
BASE = {"posekit", "posekit.skeleton", "posekit.rotations", "posekit.utils", "posekit.course", "posekit.errors"}
#: ``train`` sits with ``fitting``: the keypoint regressor's trainer draws its views with ``posekit.fitting``
RANKS = {"base": 0, "body": 1, "data": 2, "priors": 3, "train": 4, "fitting": 4, "photo": 4, "experiments": 5,
         "exercises": 6, "fit": 7}
VIZ_MAY_IMPORT = {"base", "body", "data", "viz"}
VIZ_USERS = ("experiments", "exercises", "fit")
#: experiment protocols: none imports another (``run_all`` runs them all)
EXPERIMENT_PROTOCOLS = {"posekit.experiments.denoise", "posekit.experiments.occlusion",
                        "posekit.experiments.generate", "posekit.experiments.image_fit"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _dynamic_target(node) -> str | None:
    """The module (or its known prefix) an ``importlib.import_module(...)`` / ``__import__(...)`` call names: a
    string constant, or the constant head of an f-string (``f"posekit.train.{name}"`` -> ``posekit.train.``), with
    ``__name__`` in an f-string read as the calling module's own package; None for anything else."""
    if not (isinstance(node, ast.Call) and node.args):
        return None
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
    if name not in ("import_module", "__import__"):
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr):
        head = ""
        for part in arg.values:
            if isinstance(part, ast.Constant):
                head += part.value
            elif isinstance(part.value, ast.Name) and part.value.id == "__name__" and not head:
                head = "__name__"
            else:
                break
        return head or None
    return None


def imported_modules(path: Path, modules: set[str], dynamic: bool = True) -> set[str]:
    """posekit modules imported anywhere in ``path`` (function-level imports included; with ``dynamic``,
    ``importlib`` imports whose module name is a string constant or an f-string with a constant head, the latter
    read as every module under that head: an over-approximation, right for the layer check, not for cycles)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        dyn = _dynamic_target(node) if dynamic else None
        if dyn is not None:
            dyn = dyn.replace("__name__", name if path.name == "__init__.py" else package)
            head = dyn.rstrip(".")
            found = {m for m in modules if m == head or (dyn.endswith(".") and m.startswith(dyn))}
            out |= {m for m in found if m != name} or ({head} if head.startswith("posekit.") and head in modules else set())
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from pkg import sub`` imports the submodule when there is one
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:       # ``import a.b.c`` of a name inside a module -> that module
                t = t.rpartition(".")[0]
            if t and t.startswith("posekit") and t != name:
                out.add(t)
    return out


def imported_modules_at(path: Path, root: Path, modules: set[str]) -> set[str]:
    """:func:`imported_modules` of a file under another package root (for the tests of this checker)."""
    global ROOT
    saved, ROOT = ROOT, root / "posekit"
    try:
        return imported_modules(path, modules)
    finally:
        ROOT = saved


def import_graph(dynamic: bool = True) -> dict[str, set[str]]:
    files = [p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts]
    modules = {module_name(p) for p in files}
    return {module_name(p): imported_modules(p, modules, dynamic) for p in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle [a, b, ..., a] of a directed graph, or None (iterative depth-first search)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {n: WHITE for n in graph}
    for start in sorted(graph):
        if colour[start] != WHITE:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in colour:
                    continue
                if colour[child] == GREY:
                    return path[path.index(child):] + [child]
                if colour[child] == WHITE:
                    colour[child] = GREY
                    path.append(child)
                    stack.append((child, iter(sorted(graph[child]))))
                    break
            else:
                colour[node] = BLACK
                path.pop()
                stack.pop()
    return None


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    sub = module.split(".")[1]
    if sub not in RANKS and sub != "viz":
        raise AssertionError(f"{module}: posekit.{sub} has no place in the layers; add it to RANKS in "
                             "tests/test_architecture.py and to the package docstrings")
    return sub


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in graph.items():
        a = layer(mod)
        for dep in deps:
            b = layer(dep)
            if a == "viz":
                ok = b in VIZ_MAY_IMPORT
            elif b == "viz":
                ok = a in VIZ_USERS
            else:
                ok = RANKS[b] <= RANKS[a]
            if not ok:
                bad.append(f"{mod} ({a}) imports {dep} ({b})")
    return sorted(bad)


# ------------------------------------------------------------------------------------------------


def test_cycle_finder_finds_a_synthetic_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    cyc = find_cycle(g)
    assert cyc is not None and cyc[0] == cyc[-1] and set(cyc) == {"a", "b", "c"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_layer_check_flags_an_upward_import():
    g = {"posekit.body.model": {"posekit.fitting.motion"}, "posekit.fitting.motion": {"posekit.body.model"},
         "posekit.viz.mesh": {"posekit.priors.gmm"}, "posekit.priors.gmm": set()}
    assert layer_violations(g) == ["posekit.body.model (body) imports posekit.fitting.motion (fitting)",
                                   "posekit.viz.mesh (viz) imports posekit.priors.gmm (priors)"]


def test_importlib_edges_are_seen(tmp_path):
    pkg = tmp_path / "posekit" / "priors"
    pkg.mkdir(parents=True)
    src = pkg / "store.py"
    src.write_text("import importlib\n"
                   "def f(name):\n"
                   "    importlib.import_module(f'posekit.train.{name}')\n"
                   "    importlib.import_module('posekit.fitting.motion')\n")
    modules = {"posekit.priors.store", "posekit.train.gmm", "posekit.train.vposer", "posekit.fitting.motion"}
    found = imported_modules_at(src, tmp_path, modules)
    assert found == {"posekit.train.gmm", "posekit.train.vposer", "posekit.fitting.motion"}
    assert layer_violations({"posekit.priors.store": found}) == [
        "posekit.priors.store (priors) imports posekit.fitting.motion (fitting)",
        "posekit.priors.store (priors) imports posekit.train.gmm (train)",
        "posekit.priors.store (priors) imports posekit.train.vposer (train)"]


def test_the_real_importlib_edges_are_in_the_graph():
    graph = import_graph()
    assert "posekit.train.gmm" in graph["posekit.train"]                 # f"{__name__}.{entry.trainer}"
    assert "posekit.experiments.image_fit" in graph["posekit.experiments.run_all"]
    assert not any(d.startswith("posekit.train") for m, ds in graph.items() if m.startswith("posekit.priors")
                   for d in ds), "the priors import the trainers (the train layer sits above the priors)"


def test_relative_and_function_level_imports_are_seen(tmp_path):
    graph = import_graph()
    assert "posekit.fitting.motion" in graph["posekit.experiments.denoise"]       # from ..fitting.motion import
    assert "posekit.data.dataset" in graph["posekit.experiments.clips"]            # inside a function
    assert "posekit.priors.base" in graph["posekit.fitting.losses"]


def test_no_import_cycle():
    cyc = find_cycle(import_graph(dynamic=False))
    assert cyc is None, "import cycle: " + " -> ".join(cyc)


def test_lower_layers_never_import_higher_ones():
    assert layer_violations(import_graph()) == []


def test_experiment_protocols_do_not_import_each_other():
    graph = import_graph()
    bad = [(m, d) for m in EXPERIMENT_PROTOCOLS for d in graph.get(m, ()) if d in EXPERIMENT_PROTOCOLS]
    assert bad == []


def test_prior_capabilities_are_asked_only_in_the_protocol():
    hits = [str(p.relative_to(ROOT.parent)) for p in ROOT.rglob("*.py")
            if "hasattr(prior" in p.read_text(encoding="utf-8")]
    assert hits == ["posekit/priors/base.py"]


def test_every_package_docstring_says_what_it_may_import():
    for init in ROOT.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        if init.parent.name in ("data", "train", "exercises"):
            continue
        assert "import" in doc, f"{init}: the docstring does not say what the package may import"


# ------------------------------------------------------------------------------------------------
# the priors follow the protocol


def test_priors_follow_the_protocol():
    from posekit.priors import base
    from posekit.priors.gmm import GMMPrior
    from posekit.priors.posendf import PoseNDF, default_config
    from posekit.priors.vposer import VPoser

    g = torch.Generator().manual_seed(0)
    x = 0.2 * torch.randn(3, 21, 3, generator=g)
    gmm = GMMPrior(torch.randn(2, 63, generator=g).numpy(), torch.eye(63).expand(2, 63, 63).numpy(),
                   [0.25, 0.75])
    vp, ndf = VPoser(), PoseNDF(default_config(fast=True))
    for p in (gmm, vp, ndf):
        assert isinstance(p, base.PosePrior) and base.is_pose_prior(p)
        assert base.prior_energy(p, x).shape == (3,)
    assert isinstance(vp, base.LatentPrior) and base.is_latent_prior(vp) and base.has_encoder(vp)
    assert not base.is_latent_prior(gmm) and not base.is_latent_prior(ndf)
    assert isinstance(ndf, base.DistancePrior) and base.is_distance_prior(ndf) and not base.is_distance_prior(gmm)
    torch.testing.assert_close(base.prior_energy(ndf, x), ndf.distance(x))
    # the GMM's mean pose is the mixture-weighted mean of its means
    torch.testing.assert_close(base.prior_mean_pose(gmm).reshape(63),
                               (0.25 * gmm.means[0] + 0.75 * gmm.means[1]).float(), atol=1e-5, rtol=1e-5)
    assert base.prior_mean_pose(ndf) is None
    # encode -> decode round trip shapes, and ‖μ(θ)‖² is VPoser's energy
    z = base.encode_latent(vp, x)
    assert z.shape == (3, vp.latent_dim) and base.decode_latent(vp, z).shape == (3, 21, 3)
    torch.testing.assert_close(base.prior_energy(vp, x), (z ** 2).sum(-1))
    assert base.sample_prior(gmm, 4, seed=1).shape == (4, 21, 3)
    with pytest.raises(TypeError, match="protocol"):
        base.prior_energy(object(), x)
    with pytest.raises(TypeError, match="encoder"):
        base.encode_latent(gmm, x)
    assert not base.is_motion_prior(gmm)
