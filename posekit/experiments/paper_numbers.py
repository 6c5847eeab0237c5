"""The papers' numbers the experiments are compared with.

Tables 3, 4 and 5 of Pose-NDF (Tiwari et al., ECCV 2022, https://arxiv.org/abs/2207.13807), values as
printed there (Table 3 and 4 include the paper's HuMoR rows, Rempe et al. 2021).

The tables name methods as the papers do ("VPoser", "Pose-NDF", "GAN-S", "no prior"); which posekit prior
implements a paper's method is the ``paper_name`` of its entry in ``posekit.priors.registry``
(:func:`method_of` maps one to the other). A method no posekit prior implements (GAN-S, ExPose) keeps its
paper name.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..priors import registry

SOURCE = ("Pose-NDF: Modeling Human Pose Manifolds with Neural Distance Fields (Tiwari et al., ECCV 2022, "
          "https://arxiv.org/abs/2207.13807)")

#: Table 3, motion denoising: per-vertex error (cm) by data set and clip length (frames).
#: "Noisy AMASS" is the setting our protocol follows (Gaussian noise on the pose parameters).
TABLE3_DENOISE = {
    "unit": "cm",
    "metric": "per-vertex error",
    "columns": ("HPS", "AMASS", "Noisy AMASS"),
    "frames": (60, 120, 240),
    "values": {
        "VPoser": {"HPS": (4.91, 4.16, 3.81), "AMASS": (1.52, 1.55, 1.47), "Noisy AMASS": (8.96, 9.13, 9.15)},
        "HuMoR": {"HPS": (9.69, 8.73, 10.86), "AMASS": (3.21, 3.62, 3.67), "Noisy AMASS": (11.04, 17.14, 30.31)},
        "Pose-NDF": {"HPS": (2.32, 2.14, 2.11), "AMASS": (0.59, 0.55, 0.54), "Noisy AMASS": (7.96, 8.31, 8.46)},
    },
}

#: Table 4, motion completion with an occluded body part: per-vertex error (cm) by part and clip length.
TABLE4_OCCLUSION = {
    "unit": "cm",
    "metric": "per-vertex error",
    "columns": ("leg", "arm+hand", "shoulder+upper-arm"),
    "frames": (60, 120, 240),
    "values": {
        "VPoser": {"leg": (2.53, 2.57, 2.54), "arm+hand": (8.51, 8.52, 8.59), "shoulder+upper-arm": (9.98, 9.49, 9.48)},
        "HuMoR": {"leg": (5.60, 6.19, 9.09), "arm+hand": (7.83, 8.44, 10.25), "shoulder+upper-arm": (4.75, 5.11, 4.95)},
        "Pose-NDF": {"leg": (2.49, 2.51, 2.47), "arm+hand": (7.81, 8.13, 7.98), "shoulder+upper-arm": (7.63, 7.89, 6.76)},
    },
}

#: Table 5, 3D pose and shape from images (optimisation-based): per-vertex error (mm).
TABLE5_IMAGE_FIT = {
    "unit": "mm",
    "metric": "per-vertex error",
    "optimization": {"VPoser": 60.34, "GAN-S": 59.18, "Pose-NDF": 57.39},
    "expose": 54.76,
    "expose+optimization": {"no prior": 99.78, "VPoser": 67.23, "GAN-S": 54.09, "Pose-NDF": 53.81},
}

#: Table 5's right half in posekit's rows (``image-fit --init regressor``): the setting of the fits started from
#: the regressor's output, and the fixed-start setting with the same objective they are compared with
REGRESSOR_START = "regressor-start"
FIXED_START = "+angle"


def method_of(paper_name: str) -> str:
    """The posekit method implementing a paper's method ("Pose-NDF" -> its registry name, "no prior" -> "none");
    a method no prior implements keeps its paper name ("GAN-S")."""
    return registry.from_paper(paper_name) or paper_name


def method_names() -> dict:
    """Pretty names for methods in tables: every registered prior's label, "no prior", Table 1's configurations
    (the papers' other methods keep their own names)."""
    return {**registry.labels(), **OTHER_METHOD_NAMES}


def paper_values(table: dict, key: str = "values") -> dict:
    """A paper table's rows keyed by posekit method (:func:`method_of`) instead of the paper's names."""
    return {method_of(k): v for k, v in table[key].items()}


def paper_range(table: dict, method: str, column: str | None = None) -> tuple[float, float]:
    """(min, max) of a method's values in Table 3/4 (over one column or all columns); ``method`` as posekit or
    the paper names it."""
    vals = paper_values(table).get(method) or table["values"][method]
    cols = [column] if column is not None else list(vals)
    flat = [v for c in cols for v in vals[c]]
    return min(flat), max(flat)


# ----------------------------------------------------------------------------------------------
# the papers' directions: which method each table finds lower (better), per experiment and setting
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expectation:
    """A paper finds ``lower`` < ``higher`` (errors) in ``experiment``'s ``metric``; ``part`` limits it to the
    occlusion settings of one hidden part (``scope`` says so in words). A name "method@setting" pins that side to
    one setting (e.g. "posendf@regressor-start" against "posendf@+angle": one prior, two starts)."""

    source: str
    experiment: str
    metric: str
    lower: str
    higher: str
    parts: tuple = ()

    @property
    def scope(self) -> str:
        return ("hidden " + " or ".join(self.parts)) if self.parts else ""

    def applies(self, setting: str) -> bool:
        """Does the expectation cover this setting ("part=leg,frames=60", "sigma=0.1,frames=60", ...)?"""
        if not self.parts:
            return True
        part = dict(kv.split("=", 1) for kv in setting.split(",") if "=" in kv).get("part")
        return part in self.parts


#: The papers' directions, by the papers' method names: Pose-NDF Table 3: Pose-NDF < VPoser < HuMoR on per-frame
#: noise; Table 4: Pose-NDF ≤ VPoser on every part, HuMoR < Pose-NDF on the shoulder only (Pose-NDF < HuMoR on the
#: leg and on the arm + hand); Table 5: Pose-NDF < GAN-S < VPoser; SMPLify-X Table 2: VPoser < GMM.
PAPER_DIRECTIONS = (
    ("Pose-NDF Table 3", "denoise", "v2v_cm", "Pose-NDF", "VPoser", ()),
    ("Pose-NDF Table 3", "denoise", "v2v_cm", "VPoser", "HuMoR", ()),
    ("Pose-NDF Table 3", "denoise", "v2v_cm", "Pose-NDF", "HuMoR", ()),
    ("Pose-NDF Table 4", "occlusion", "v2v_hidden_cm", "Pose-NDF", "VPoser", ()),
    ("Pose-NDF Table 4", "occlusion", "v2v_hidden_cm", "HuMoR", "Pose-NDF", ("shoulder+upper-arm",)),
    ("Pose-NDF Table 4", "occlusion", "v2v_hidden_cm", "Pose-NDF", "HuMoR", ("leg", "arm+hand")),
    ("Pose-NDF Table 5", "image-fit", "v2v_mm", "Pose-NDF", "VPoser", ()),
    ("SMPLify-X Table 2", "image-fit", "v2v_mm", "VPoser", "GMM", ()),
)
#: "every prior helps": each prior < no prior, per experiment and metric (image fitting: pose priors only)
PRIOR_HELPS = (("denoise", "v2v_cm", None), ("occlusion", "v2v_hidden_cm", None), ("image-fit", "v2v_mm", "pose"))


# ----------------------------------------------------------------------------------------------
# SMPLify-X (Pavlakos et al., CVPR 2019, https://arxiv.org/abs/1904.05866), Table 1
# ----------------------------------------------------------------------------------------------
SMPLIFYX_SOURCE = ("Expressive Body Capture: 3D Hands, Face, and Body from a Single Image (Pavlakos et al., CVPR 2019, "
                   "https://arxiv.org/abs/1904.05866)")

#: Table 1: SMPLify-X's fits on EHF, whole-body vertex-to-vertex error (mm) per model and keypoints used
TABLE1 = {
    "unit": "mm",
    "metric": "v2v (whole body, EHF)",
    "values": {"smpl-body": 57.6, "smpl-all": 64.5, "smplh-body+hands": 54.2, "smplx-all": 52.9},
    "rows": {"smpl-body": ("SMPL", "body"), "smpl-all": ("SMPL", "body + hands + face"),
             "smplh-body+hands": ("SMPL+H", "body + hands"), "smplx-all": ("SMPL-X", "body + hands + face")},
}
#: Table 2 (ablations of SMPLify-X on EHF, v2v mm): SMPLify-X with the gender-specific model 52.9, with the
#: "gender neutral model" 58.0; in posekit's rows (``table1``, setting ``table1.GENDER_SETTING``)
TABLE2_GENDER = {
    "unit": "mm",
    "metric": "v2v (whole body, EHF)",
    "values": {"smplx-gendered": 52.9, "smplx-neutral-on-gendered": 58.0},
    "rows": {"smplx-gendered": "SMPLify-X (gender-specific model)", "smplx-neutral-on-gendered": "gender neutral model"},
}
#: labels of the experiments' methods that are not priors (``posekit.experiments.report.OTHER_METHODS``)
OTHER_METHOD_NAMES = {"regressor": "regressor alone", "smpl-body": "SMPL (body keypoints)", "smpl-all": "SMPL (all keypoints)",
                      "smplh-body+hands": "SMPL+H (body + hand keypoints)", "smplx-all": "SMPL-X (all keypoints)",
                      "smplx-gendered": "SMPL-X, matching gendered model",
                      "smplx-neutral-on-gendered": "SMPL-X, neutral model on gendered bodies"}
#: Table 1's directions: SMPL-X with all keypoints < SMPL with body keypoints; SMPL with all keypoints is worse
#: than with body keypoints (its frozen hands and face cannot follow theirs); SMPL+H < SMPL; SMPL-X < SMPL+H
TABLE1_EXPECTATIONS = (
    Expectation("SMPLify-X Table 1", "table1", "v2v_pa_mm", "smplx-all", "smpl-body"),
    Expectation("SMPLify-X Table 1", "table1", "v2v_pa_mm", "smpl-body", "smpl-all"),
    Expectation("SMPLify-X Table 1", "table1", "v2v_pa_mm", "smplh-body+hands", "smpl-body"),
    Expectation("SMPLify-X Table 1", "table1", "v2v_pa_mm", "smplx-all", "smplh-body+hands"),
)
#: Table 2's gender row: the gender-specific model fits gendered bodies better than the neutral one (52.9 < 58.0)
TABLE2_GENDER_EXPECTATIONS = (
    Expectation("SMPLify-X Table 2", "table1", "v2v_pa_mm", "smplx-gendered", "smplx-neutral-on-gendered"),
)
#: expectations between methods that are not priors (not derived from the registry)
OTHER_EXPECTATIONS = (*TABLE1_EXPECTATIONS, *TABLE2_GENDER_EXPECTATIONS)


def regressor_expectations() -> tuple[Expectation, ...]:
    """Table 5's right half: without a prior the fit drifts away from the regressor's good start (99.78 > 54.76
    mm); Pose-NDF keeps the regressor's gain (53.81 < 54.76 mm), VPoser loses it (67.23 > 54.76 mm); and every pose
    prior started from the regressor ends below the same prior started from the rest pose ("method@setting" pins
    a side's setting; in the paper 67.23 < 60.34 fails for VPoser, 54.09 < 59.18 GAN-S, 53.81 < 57.39 Pose-NDF)."""
    out = [Expectation("Pose-NDF Table 5", "image-fit", "v2v_mm", "regressor", registry.NO_PRIOR)]
    if registry.from_paper("Pose-NDF"):
        out.append(Expectation("Pose-NDF Table 5", "image-fit", "v2v_mm", method_of("Pose-NDF"), "regressor"))
    if registry.from_paper("VPoser"):
        out.append(Expectation("Pose-NDF Table 5", "image-fit", "v2v_mm", "regressor", method_of("VPoser")))
    out += [Expectation("a prior keeps the regressor's gain", "image-fit", "v2v_mm", f"{m}@{REGRESSOR_START}",
                        f"{m}@{FIXED_START}") for m in registry.pose_prior_names()]
    return tuple(out)


def method_label(method: str) -> str:
    """How tables show a method: a prior's registry label, "no prior", a Table 1 configuration's name."""
    return OTHER_METHOD_NAMES.get(method) or registry.label(method)


def expectations() -> tuple[Expectation, ...]:
    """Every expectation for the priors registered now: each prior < no prior (:data:`PRIOR_HELPS`), then the
    papers' directions (:data:`PAPER_DIRECTIONS`) between the priors implementing the papers' methods (a
    direction whose method no prior implements is left out), Table 5's right half (:func:`regressor_expectations`),
    then :data:`OTHER_EXPECTATIONS`."""
    out = []
    for experiment, metric, kind in PRIOR_HELPS:
        out += [Expectation("every prior helps", experiment, metric, m, registry.NO_PRIOR)
                for m in registry.prior_names(kind)]
        out += [Expectation(src, exp, met, method_of(lo), method_of(hi), parts)
                for src, exp, met, lo, hi, parts in PAPER_DIRECTIONS
                if exp == experiment and registry.from_paper(lo) and registry.from_paper(hi)]
    return (*out, *regressor_expectations(), *OTHER_EXPECTATIONS)


def __getattr__(name):
    # EXPECTATIONS and METHOD_NAMES are read from the registry when asked (a prior registered at run time is in them)
    if name == "EXPECTATIONS":
        return expectations()
    if name == "METHOD_NAMES":
        return method_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
