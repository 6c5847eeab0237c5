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

#: Pretty names for methods in tables.
METHOD_NAMES = {"none": "no prior", "gmm": "GMM", "vposer": "VPoser", "posendf": "Pose-NDF",
                "humor": "HuMoR", "gan-s": "GAN-S"}


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
    occlusion settings of one hidden part (``scope`` says so in words)."""

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
)


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
METHOD_NAMES.update({"smpl-body": "SMPL (body keypoints)", "smpl-all": "SMPL (all keypoints)",
                     "smplh-body+hands": "SMPL+H (body + hand keypoints)", "smplx-all": "SMPL-X (all keypoints)"})
#: Table 1's directions: SMPL-X with all keypoints < SMPL with body keypoints; SMPL with all keypoints is worse
#: than with body keypoints (its frozen hands and face cannot follow theirs); SMPL+H < SMPL; SMPL-X < SMPL+H
TABLE1_EXPECTATIONS = (
    Expectation("SMPLify-X Table 1", "table1", "v2v_pa_mm", "smplx-all", "smpl-body"),
    Expectation("SMPLify-X Table 1", "table1", "v2v_pa_mm", "smpl-body", "smpl-all"),
    Expectation("SMPLify-X Table 1", "table1", "v2v_pa_mm", "smplh-body+hands", "smpl-body"),
    Expectation("SMPLify-X Table 1", "table1", "v2v_pa_mm", "smplx-all", "smplh-body+hands"),
)
EXPECTATIONS = EXPECTATIONS + TABLE1_EXPECTATIONS
