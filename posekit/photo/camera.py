"""The camera of a photo: focal length in pixels from EXIF, or a documented default; principal point at
the image centre (``posekit.fitting.camera`` conventions: OpenCV axes, square pixels, no skew).

Focal length in pixels, in this order:

1. ``FocalLengthIn35mmFilm`` (EXIF 0xA405, f35 in mm): the focal length a 36 × 24 mm frame would need
   for the same field of view, defined on the **diagonal** (CIPA DC-008): f_px = f35 · d_px / d_35,
   d_px = √(W² + H²), d_35 = √(36² + 24²) ≈ 43.27 mm;
2. ``FocalLength`` (0x920A, mm) with the sensor's pixel density ``FocalPlaneXResolution`` (0xA20E) in
   ``FocalPlaneResolutionUnit`` (0xA210: 2 inch, 3 cm, 4 mm, 5 µm): f_px = f_mm · (px per mm) · s,
   s = current width / the width those resolutions refer to (``PixelXDimension`` 0xA002 when present,
   else the stored width);
3. otherwise the **default**: f_px = d_px, a diagonal field of view of 2·atan(½) ≈ 53°, the
   assumption CLIFF (Li et al., ECCV 2022, https://arxiv.org/abs/2208.00571) makes for photos of unknown
   cameras (a phone's main camera is wider, ~75° diagonal; a portrait lens narrower).

A wrong focal length mostly trades depth for body size (see chapter 02b): the pose fit is forgiving.
"""
from __future__ import annotations

import math

from .errors import PhotoError

__all__ = ["FULL_FRAME_DIAGONAL_MM", "DEFAULT_DIAGONAL_FOV_DEG", "focal_from_35mm", "focal_from_sensor",
           "default_focal", "focal_from_exif", "camera_for", "EXIF_TAGS"]

FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
#: the default diagonal field of view (f = image diagonal in px)
DEFAULT_DIAGONAL_FOV_DEG = math.degrees(2 * math.atan(0.5))
EXIF_TAGS = {"FocalLength": 0x920A, "FocalLengthIn35mmFilm": 0xA405, "FocalPlaneXResolution": 0xA20E,
             "FocalPlaneResolutionUnit": 0xA210, "PixelXDimension": 0xA002, "PixelYDimension": 0xA003,
             "Orientation": 0x0112}
#: FocalPlaneResolutionUnit -> millimetres per unit
_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 1e-3}


def _num(x) -> float | None:
    """EXIF rationals / ints / tuples -> float (None when absent, zero or not a number)."""
    if x is None:
        return None
    try:
        if isinstance(x, tuple) and len(x) == 2:
            x = x[0] / x[1] if x[1] else 0.0
        v = float(x)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def focal_from_35mm(f35_mm: float, width: int, height: int) -> float:
    """35 mm-equivalent focal length (mm) -> focal length in px of a W × H image (diagonal definition)."""
    return float(f35_mm) * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM


def focal_from_sensor(f_mm: float, px_per_unit: float, unit: int, scale: float = 1.0) -> float:
    """Focal length (mm) and the sensor's pixels per resolution unit -> px, times ``scale`` (resized image)."""
    if unit not in _UNIT_MM:
        raise ValueError(f"FocalPlaneResolutionUnit must be one of {sorted(_UNIT_MM)}, got {unit}")
    return float(f_mm) * float(px_per_unit) / _UNIT_MM[unit] * scale


def default_focal(width: int, height: int) -> float:
    """The default focal length: the image diagonal in px (≈ 53° diagonal field of view)."""
    return math.hypot(width, height)


def focal_from_exif(exif: dict, width: int, height: int, stored_width: int | None = None) -> tuple[float | None, str]:
    """EXIF tags ({id: value}) of a photo now W × H px (upright) -> (focal px or None, how it was found).

    ``stored_width``: the width of the file as stored, the size ``FocalPlaneXResolution`` refers to when
    ``PixelXDimension`` is absent (default: ``width``).
    """
    t = EXIF_TAGS
    f35 = _num(exif.get(t["FocalLengthIn35mmFilm"]))
    if f35 is not None:
        return focal_from_35mm(f35, width, height), f"EXIF FocalLengthIn35mmFilm = {f35:g} mm"
    f_mm = _num(exif.get(t["FocalLength"]))
    res = _num(exif.get(t["FocalPlaneXResolution"]))
    unit = int(_num(exif.get(t["FocalPlaneResolutionUnit"])) or 2)       # EXIF's default unit: inch
    if f_mm is not None and res is not None and unit in _UNIT_MM:
        ref_w = _num(exif.get(t["PixelXDimension"]))
        rotated = exif.get(t["Orientation"], 1) in (5, 6, 7, 8)
        now_w = height if rotated else width                              # the stored x axis, at current scale
        ref = ref_w or float(stored_width or now_w)
        return (focal_from_sensor(f_mm, res, unit, scale=now_w / ref),
                f"EXIF FocalLength = {f_mm:g} mm, FocalPlaneXResolution = {res:g} per {_UNIT_MM[unit]:g} mm")
    return None, "no usable EXIF focal length"


def camera_for(photo, focal_length: float | None = None) -> dict:
    """The camera of a :class:`~posekit.photo.io.Photo`: {"focal_length" px, "center" (cx, cy),
    "size" (W, H), "source"} with ``focal_length`` given, else from EXIF, else the default."""
    W, H = photo.size
    if focal_length is not None:
        f, how = float(focal_length), "given"
        if not math.isfinite(f) or f <= 0:
            raise PhotoError(f"focal_length must be a positive number of pixels, got {focal_length}")
    else:
        # EXIF numbers describe the original file: convert at the original size, then scale
        ow, oh = photo.original_size if photo.original_size[0] else (W, H)
        stored_w = oh if photo.exif.get(EXIF_TAGS["Orientation"], 1) in (5, 6, 7, 8) else ow
        f0, how = focal_from_exif(photo.exif, ow, oh, stored_width=stored_w)
        if f0 is None:
            f, how = default_focal(W, H), f"default: image diagonal ({DEFAULT_DIAGONAL_FOV_DEG:.1f}° diagonal field of view)"
        else:
            f = f0 * photo.scale
    return {"focal_length": f, "center": (W / 2.0, H / 2.0), "size": (W, H), "source": how}
