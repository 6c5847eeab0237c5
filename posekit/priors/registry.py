"""The priors posekit knows, written down once: one :class:`PriorEntry` per prior.

Every list of prior names in posekit derives from this registry: the command lines' choices, ``train all``,
the weight grids of the fitters, the experiments' methods, the tables and reports, the photo fit, the file
checks of ``posekit.priors.files``. Adding a prior takes three things:

1. its module under ``posekit/priors/`` (a class following the protocol of :mod:`posekit.priors.base`, with
   ``save(path)`` and a ``load(path, device=None)`` classmethod that reads through :mod:`posekit.priors.files`);
2. its trainer ``posekit/train/<name>.py`` (``train(motions, out, fast=False, seed=0, device=None) -> Path``,
   ``add_arguments(parser)``, ``run(args)``);
3. one :class:`PriorEntry` in :data:`PRIORS` below (or :func:`register` at run time, e.g. from a notebook).

A prior defined in a notebook cell has no module or file: register it with ``build=`` (a function returning
the prior object); ``posekit.priors.store.load_prior`` then calls it instead of reading a file.

    >>> from posekit.priors import registry
    >>> registry.methods()                        # the method names of the experiments
    ('none', 'gmm', 'vposer', 'posendf', 'diffusion', 'humor')
    >>> registry.label("posendf")
    'Pose-NDF'

``"none"`` (:data:`NO_PRIOR`) is the fit without a prior: a method of every experiment, not a prior.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import InputError

__all__ = ["PriorEntry", "PRIORS", "NO_PRIOR", "NO_PRIOR_LABEL", "NO_PRIOR_COLOUR", "register", "unregister",
           "DEFAULT_POSE_PRIOR", "entry", "prior_names", "pose_prior_names", "motion_prior_names", "methods", "pose_methods", "label",
           "labels", "colour", "fit_weight", "from_paper", "check_prior_name", "kinds"]

NO_PRIOR = "none"
NO_PRIOR_LABEL = "no prior"
NO_PRIOR_COLOUR = "C0"
#: the prior a photo fit uses unless told otherwise: SMPLify's own
DEFAULT_POSE_PRIOR = "gmm"


@dataclass(frozen=True)
class PriorEntry:
    """What posekit needs to know about one prior.

    name: the method name everywhere (command-line choices, result rows, ``--prior-weights gmm=1``).
    label, colour: how tables and figures show it (a matplotlib colour).
    kind: ``"pose"`` (a prior over one pose: image fitting, denoising, occlusion, generation) or ``"motion"``
      (a prior over pose sequences: denoising and occlusion only).
    module, class_name: where its class lives (``load(path, device=None)``); file: its file name in a folder
      of priors; trainer: its module under ``posekit.train``.
    fit_weight: the base of its motion-fit weight for losses in cm² (the energies differ in scale; the
      weight search multiplies this base by ``posekit.fitting.tune.PRIOR_GRID``).
    paper_name: its name in the papers' tables (``posekit.experiments.paper_numbers``), None when no paper has it.
    image_fit_settings: image-fit settings only this prior runs (``posekit.experiments.image_fit.SETTINGS``).
    image_scale: the centre of the image-fit search over SMPLify's λθ scale (the grid ×0.1 … ×1000 multiplies it).
    summary: one line for the command line's help.
    file_keys: the keys of its saved dict (``.pt``) or its arrays (``.npz``); file_tag: how a ``.pt`` file says
      what it is, ``("format", "posekit.humor/")`` (a prefix of ``obj["format"]``) or ``("kind", "posendf")``;
      tag_required: a file without the tag is refused; checkpoint_keys: the keys of its trainer's resumable
      checkpoint (``.ckpt``), empty when it has none.
    build: for a prior defined in a notebook: a function returning the prior (no file, no trainer).
    """

    name: str
    label: str
    module: str = ""
    class_name: str = ""
    file: str = ""
    trainer: str = ""
    kind: str = "pose"
    fit_weight: float = 1.0
    colour: str = "C7"
    paper_name: str | None = None
    image_fit_settings: tuple = ()
    image_scale: float = 1.0
    summary: str = ""
    file_keys: tuple = ("config", "state_dict")
    file_tag: tuple | None = None
    tag_required: bool = False
    checkpoint_keys: tuple = ()
    build: Callable | None = field(default=None, compare=False)

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum() or self.name != self.name.lower():
            raise InputError(f"prior name {self.name!r}: expected lower-case letters, digits, '-' or '_'")
        if self.name == NO_PRIOR:
            raise InputError(f"{NO_PRIOR!r} is the fit without a prior; choose another name")
        if self.kind not in ("pose", "motion"):
            raise InputError(f"prior {self.name!r}: kind must be 'pose' or 'motion', got {self.kind!r}")
        if self.build is None and not (self.module and self.class_name and self.file):
            raise InputError(f"prior {self.name!r}: give module, class_name and file (a prior read from a file) "
                             "or build (a function returning the prior)")
        for what in ("fit_weight", "image_scale"):
            if not (getattr(self, what) > 0):
                raise InputError(f"prior {self.name!r}: {what} must be > 0, got {getattr(self, what)!r}")

    @property
    def file_format(self) -> str:
        """``"npz"`` or ``"pt"`` (from the file name)."""
        return "npz" if self.file.endswith(".npz") else "pt"


_BUILTIN = (
    PriorEntry("gmm", "GMM", "posekit.priors.gmm", "GMMPrior", "gmm.npz", "gmm", fit_weight=1.0, colour="C1",
               paper_name="GMM", image_fit_settings=("exact",),
               summary="8-component GMM over body-joint axis-angle (SMPLify's prior); writes .npz",
               file_keys=("means", "covariances", "weights")),
    PriorEntry("vposer", "VPoser", "posekit.priors.vposer", "VPoser", "vposer.pt", "vposer", fit_weight=1.0,
               colour="C2", paper_name="VPoser", summary="VPoser variational pose prior; writes .pt",
               file_tag=("format", "posekit.vposer/"),
               checkpoint_keys=("settings", "config", "model", "best_model", "optimizer", "scheduler", "state")),
    PriorEntry("posendf", "Pose-NDF", "posekit.priors.posendf", "PoseNDF", "posendf.pt", "posendf", fit_weight=300.0,
               colour="C3", paper_name="Pose-NDF", image_fit_settings=("+adaptive",),
               summary="Pose-NDF neural distance field on SO(3)^K; writes .pt",
               file_tag=("kind", "posendf"), tag_required=True,
               checkpoint_keys=("config", "seed", "model", "optimizer", "epoch", "best_val", "bad", "done",
                                "best_state", "history")),
    PriorEntry("diffusion", "Diffusion", "posekit.priors.diffusion", "DiffusionPrior", "diffusion.pt", "diffusion",
               fit_weight=1.0, colour="C6", image_scale=0.01,
               summary="score-based (diffusion) pose prior, a denoiser of body poses in the spirit of DPoser; writes .pt",
               file_tag=("format", "posekit.diffusion/"), tag_required=True),
    PriorEntry("humor", "HuMoR", "posekit.priors.humor", "HumorPrior", "humor.pt", "humor", kind="motion",
               fit_weight=10.0, colour="C4", paper_name="HuMoR",
               summary="HuMoR-like motion prior (CVAE over state transitions, with contacts); writes .pt",
               file_tag=("format", "posekit.humor/"), tag_required=True),
)

#: name -> entry, in the order tables list them (pose priors, then motion priors)
PRIORS: dict[str, PriorEntry] = {e.name: e for e in _BUILTIN}


def _ordered() -> list[PriorEntry]:
    return [e for e in PRIORS.values() if e.kind == "pose"] + [e for e in PRIORS.values() if e.kind == "motion"]


def register(new: PriorEntry, replace: bool = False) -> PriorEntry:
    """Add a prior (``replace``: overwrite an entry of the same name) -> the entry."""
    if not isinstance(new, PriorEntry):
        raise InputError(f"register expects a PriorEntry, got {type(new).__name__}")
    if new.name in PRIORS and not replace:
        raise InputError(f"a prior named {new.name!r} is registered already; pass replace=True to overwrite it")
    PRIORS[new.name] = new
    return new


def unregister(name: str) -> None:
    """Remove a prior registered at run time (the built-in ones stay)."""
    if any(e.name == name for e in _BUILTIN):
        raise InputError(f"{name!r} is one of posekit's own priors and cannot be removed")
    PRIORS.pop(name, None)


def entry(name: str) -> PriorEntry:
    """The entry of prior ``name``; InputError naming the known priors when there is none."""
    check_prior_name(name)
    return PRIORS[name]


def check_prior_name(name, what: str = "prior") -> str:
    if name not in PRIORS:
        raise InputError(f"unknown {what} {name!r}; expected one of {list(prior_names())}")
    return name


def prior_names(kind: str | None = None) -> tuple[str, ...]:
    """Every registered prior (``kind``: only ``"pose"`` or ``"motion"`` priors), pose priors first."""
    return tuple(e.name for e in _ordered() if kind is None or e.kind == kind)


def pose_prior_names() -> tuple[str, ...]:
    return prior_names("pose")


def motion_prior_names() -> tuple[str, ...]:
    return prior_names("motion")


def methods(kind: str | None = None) -> tuple[str, ...]:
    """The experiments' methods: ``"none"`` and every prior (``kind`` as in :func:`prior_names`)."""
    return (NO_PRIOR, *prior_names(kind))


def pose_methods() -> tuple[str, ...]:
    """``"none"`` and the pose priors (image fitting, generation and photos use only these)."""
    return methods("pose")


def label(name: str) -> str:
    """How tables show a method ("none" -> "no prior"; an unknown name as it is)."""
    if name == NO_PRIOR:
        return NO_PRIOR_LABEL
    return PRIORS[name].label if name in PRIORS else name


def labels() -> dict[str, str]:
    """{method: label} for "none" and every prior."""
    return {m: label(m) for m in methods()}


def colour(name: str) -> str:
    """A method's colour in figures (matplotlib colour)."""
    if name == NO_PRIOR:
        return NO_PRIOR_COLOUR
    return PRIORS[name].colour if name in PRIORS else "C7"


def fit_weight(name: str) -> float:
    """The base of a method's motion-fit weight (0 for "none")."""
    return 0.0 if name == NO_PRIOR else entry(name).fit_weight


def from_paper(paper_name: str) -> str | None:
    """The prior implementing the papers' method ``paper_name`` ("Pose-NDF" -> "posendf"); None when none does."""
    if paper_name == NO_PRIOR_LABEL:
        return NO_PRIOR
    return next((e.name for e in _ordered() if e.paper_name == paper_name), None)


def kinds() -> dict[str, PriorEntry]:
    """{name: entry} of the priors read from files (those ``posekit.priors.files`` checks)."""
    return {e.name: e for e in _ordered() if e.build is None}
