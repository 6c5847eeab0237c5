"""The papers' numbers the experiments are compared with.

Tables 3, 4 and 5 of Pose-NDF (Tiwari et al., ECCV 2022, https://arxiv.org/abs/2207.13807), values as
printed there (Table 3 and 4 include the paper's HuMoR rows, Rempe et al. 2021).
"""
from __future__ import annotations

from dataclasses import dataclass

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
        "vposer": {"HPS": (4.91, 4.16, 3.81), "AMASS": (1.52, 1.55, 1.47), "Noisy AMASS": (8.96, 9.13, 9.15)},
        "humor": {"HPS": (9.69, 8.73, 10.86), "AMASS": (3.21, 3.62, 3.67), "Noisy AMASS": (11.04, 17.14, 30.31)},
        "posendf": {"HPS": (2.32, 2.14, 2.11), "AMASS": (0.59, 0.55, 0.54), "Noisy AMASS": (7.96, 8.31, 8.46)},
    },
}

#: Table 4, motion completion with an occluded body part: per-vertex error (cm) by part and clip length.
TABLE4_OCCLUSION = {
    "unit": "cm",
    "metric": "per-vertex error",
    "columns": ("leg", "arm+hand", "shoulder+upper-arm"),
    "frames": (60, 120, 240),
    "values": {
        "vposer": {"leg": (2.53, 2.57, 2.54), "arm+hand": (8.51, 8.52, 8.59), "shoulder+upper-arm": (9.98, 9.49, 9.48)},
        "humor": {"leg": (5.60, 6.19, 9.09), "arm+hand": (7.83, 8.44, 10.25), "shoulder+upper-arm": (4.75, 5.11, 4.95)},
        "posendf": {"leg": (2.49, 2.51, 2.47), "arm+hand": (7.81, 8.13, 7.98), "shoulder+upper-arm": (7.63, 7.89, 6.76)},
    },
}

#: Table 5, 3D pose and shape from images (optimisation-based): per-vertex error (mm).
TABLE5_IMAGE_FIT = {
    "unit": "mm",
    "metric": "per-vertex error",
    "optimization": {"vposer": 60.34, "gan-s": 59.18, "posendf": 57.39},
    "expose": 54.76,
    "expose+optimization": {"none": 99.78, "vposer": 67.23, "gan-s": 54.09, "posendf": 53.81},
}

#: Table 5's right half in posekit's rows (``image-fit --init regressor``): the setting of the fits started from
#: the regressor's output, and the fixed-start setting with the same objective they are compared with
REGRESSOR_START = "regressor-start"
FIXED_START = "+angle"

#: Pretty names for methods in tables.
METHOD_NAMES = {"none": "no prior", "gmm": "GMM", "vposer": "VPoser", "posendf": "Pose-NDF",
                "humor": "HuMoR", "gan-s": "GAN-S", "regressor": "regressor alone"}


def paper_range(table: dict, method: str, column: str | None = None) -> tuple[float, float]:
    """(min, max) of a method's values in Table 3/4 (over one column or all columns)."""
    vals = table["values"][method]
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


_PRIORS = ("gmm", "vposer", "posendf", "humor")
#: Pose-NDF Table 3: Pose-NDF < VPoser < HuMoR on per-frame noise; Table 4: Pose-NDF ≤ VPoser on every part,
#: HuMoR < Pose-NDF on the shoulder only (Pose-NDF < HuMoR on the leg and on the arm + hand); Table 5:
#: Pose-NDF < GAN-S < VPoser; SMPLify-X Table 2: VPoser < GMM; every table: each prior < no prior.
EXPECTATIONS = (
    *(Expectation("every prior helps", "denoise", "v2v_cm", m, "none") for m in _PRIORS),
    Expectation("Pose-NDF Table 3", "denoise", "v2v_cm", "posendf", "vposer"),
    Expectation("Pose-NDF Table 3", "denoise", "v2v_cm", "vposer", "humor"),
    Expectation("Pose-NDF Table 3", "denoise", "v2v_cm", "posendf", "humor"),
    *(Expectation("every prior helps", "occlusion", "v2v_hidden_cm", m, "none") for m in _PRIORS),
    Expectation("Pose-NDF Table 4", "occlusion", "v2v_hidden_cm", "posendf", "vposer"),
    Expectation("Pose-NDF Table 4", "occlusion", "v2v_hidden_cm", "humor", "posendf", ("shoulder+upper-arm",)),
    Expectation("Pose-NDF Table 4", "occlusion", "v2v_hidden_cm", "posendf", "humor", ("leg", "arm+hand")),
    *(Expectation("every prior helps", "image-fit", "v2v_mm", m, "none") for m in _PRIORS[:3]),
    Expectation("Pose-NDF Table 5", "image-fit", "v2v_mm", "posendf", "vposer"),
    Expectation("SMPLify-X Table 2", "image-fit", "v2v_mm", "vposer", "gmm"),
    # Table 5's right half: without a prior the fit drifts away from the regressor's good start (99.78 > 54.76 mm);
    # Pose-NDF keeps the regressor's gain (53.81 < 54.76 mm), VPoser loses it (67.23 > 54.76 mm)
    Expectation("Pose-NDF Table 5", "image-fit", "v2v_mm", "regressor", "none"),
    Expectation("Pose-NDF Table 5", "image-fit", "v2v_mm", "posendf", "regressor"),
    Expectation("Pose-NDF Table 5", "image-fit", "v2v_mm", "regressor", "vposer"),
    # and every prior started from the regressor ends below the same prior started from the rest pose
    # (Table 5: 67.23 < 60.34 fails for VPoser in the paper; 54.09 < 59.18 GAN-S, 53.81 < 57.39 Pose-NDF)
    *(Expectation("a prior keeps the regressor's gain", "image-fit", "v2v_mm", f"{m}@{REGRESSOR_START}",
                  f"{m}@{FIXED_START}") for m in _PRIORS[:3]),
)
