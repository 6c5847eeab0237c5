"""Loading a photo: path, PIL image or (H,W,3) uint8 array -> RGB uint8 array, EXIF orientation applied,
huge images downscaled (the scale is returned so that a focal length in pixels stays consistent).

Errors are :class:`~posekit.photo.errors.NotAnImageError` (not an image, truncated, empty, wrong array)
or ``FileNotFoundError``; nothing is written.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import NotAnImageError

__all__ = ["Photo", "load_image", "MAX_SIDE"]

#: longest side (px) a photo is downscaled to before detection and fitting
MAX_SIDE = 1600


@dataclass
class Photo:
    """An RGB photo ready for detection: ``image`` (H,W,3) uint8; ``scale`` = new size / original size
    (1 when not downscaled); ``original_size`` (width, height) before downscaling; ``exif`` the raw EXIF
    tags ({} for arrays); ``source`` a path or a short description."""

    image: np.ndarray
    scale: float = 1.0
    original_size: tuple = (0, 0)
    exif: dict = field(default_factory=dict)
    source: str = "array"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in px."""
        return int(self.image.shape[1]), int(self.image.shape[0])


def _from_array(a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise NotAnImageError(f"an image array must have shape (H, W, 3) (RGB) or (H, W, 4), got {a.shape}")
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1:
            a = (a * 255 + 0.5).astype(np.uint8)
        else:
            raise NotAnImageError(f"an image array must be uint8 (0-255) or float in [0, 1], got {a.dtype}")
    return np.ascontiguousarray(a[..., :3])


def _exif_tags(img) -> dict:
    """Flat {tag id: value} of the base IFD and the Exif sub-IFD (focal lengths live in the latter)."""
    try:
        ex = img.getexif()
    except Exception:                                     # malformed EXIF: no camera information
        return {}
    tags = dict(ex)
    try:
        tags.update(ex.get_ifd(0x8769))
    except Exception:
        pass
    return tags


def load_image(source, max_side: int = MAX_SIDE) -> Photo:
    """Read ``source`` (path, PIL image or (H,W,3) uint8 array) -> :class:`Photo` (RGB uint8).

    EXIF orientation is applied (the array is upright as a viewer shows it); an image whose longest side
    exceeds ``max_side`` is downscaled (Lanczos) and ``Photo.scale`` records the factor.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if max_side is not None and max_side < 16:
        raise ValueError(f"max_side must be at least 16 px, got {max_side}")
    exif, name = {}, "array"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {path}")
        name = str(path)
        try:
            with Image.open(path) as im:
                exif = _exif_tags(im)
                original = im.size                                  # stored size, before any reduction
                if max_side and im.format == "JPEG" and max(im.size) > 2 * max_side:
                    im.draft("RGB", (max_side, max_side))          # decode big JPEGs at a reduced scale
                im = ImageOps.exif_transpose(im)
                im.load()
                arr = np.asarray(im.convert("RGB"))
        except UnidentifiedImageError as e:
            raise NotAnImageError(f"{path} is not an image PIL can read (expected a JPEG, PNG, ... file)") from e
        except (OSError, SyntaxError, ValueError) as e:
            raise NotAnImageError(f"{path} could not be decoded (truncated or damaged image file?): {e}") from e
    elif hasattr(source, "convert") and hasattr(source, "size"):          # a PIL image
        exif = _exif_tags(source)
        original = source.size
        arr = np.asarray(ImageOps.exif_transpose(source).convert("RGB"))
        name = "PIL image"
    else:
        arr = _from_array(source)
        original = (arr.shape[1], arr.shape[0])
    # the upright original size (EXIF orientations 5-8 swap width and height)
    if exif.get(0x0112, 1) in (5, 6, 7, 8):
        original = (original[1], original[0])
    arr = np.ascontiguousarray(arr)
    H, W = arr.shape[:2]
    if max_side and max(W, H) > max_side:
        s = max_side / max(W, H)
        new = (max(1, round(W * s)), max(1, round(H * s)))
        arr = np.asarray(Image.fromarray(arr).resize(new, Image.LANCZOS))
    scale = arr.shape[1] / original[0]
    return Photo(image=arr, scale=float(scale), original_size=tuple(int(s) for s in original), exif=exif, source=name)
