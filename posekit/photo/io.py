"""Loading a photo: path, PIL image or (H,W,3) uint8 array -> RGB uint8 array, EXIF orientation applied,
huge images downscaled (the scale is returned so that a focal length in pixels stays consistent).

Every kind of picture becomes 8-bit RGB: grey ("L", "LA", "1"), palette ("P", "PA"), CMYK, with alpha
(dropped), and 16-bit or 32-bit grey ("I;16", "I", "F"), which is scaled to 8 bits (0-65535 -> 0-255;
"F" from [0, 1], or 0-255, or 0-65535 by its largest value); arrays may be (H, W), (H, W, 1 to 4) uint8,
uint16 or float in [0, 1].

Size limits: a file of more than :data:`MAX_PIXELS` pixels is refused before it is decoded (PIL's
decompression-bomb warning below that limit is silenced: the limit here replaces it); a photo with a side
under :data:`MIN_SIDE` px cannot show a person (:func:`check_photo_size`, used before detection and fitting).

Errors are :class:`~posekit.photo.errors.NotAnImageError` (not an image, truncated, empty, too large, wrong
array) or ``FileNotFoundError``; nothing is written.
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .errors import NotAnImageError

__all__ = ["Photo", "load_image", "check_photo_size", "MAX_SIDE", "MAX_PIXELS", "MIN_SIDE"]

#: longest side (px) a photo is downscaled to before detection and fitting
MAX_SIDE = 1600
#: the most pixels (width × height, as stored) a photo may have: 150 megapixels, e.g. 15000 × 10000 px.
#: Below PIL's own refusal (2 × ``PIL.Image.MAX_IMAGE_PIXELS`` ≈ 179 MP); JPEGs that large are decoded at a
#: reduced scale, other formats in full (3 bytes per pixel).
MAX_PIXELS = 150_000_000
#: the shortest side (px) of a photo that detection and fitting accept
MIN_SIDE = 16


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


def _too_large(name: str, pixels: int, size=None) -> NotAnImageError:
    dims = f"{size[0]}×{size[1]} px = " if size is not None else ""
    return NotAnImageError(f"{name}: the image is too large ({dims}{pixels / 1e6:.0f} megapixels); posekit reads "
                           f"photos up to {MAX_PIXELS / 1e6:.0f} megapixels (posekit.photo.io.MAX_PIXELS): downscale "
                           f"it first, e.g. to {MAX_SIDE} px on the long side")


def _check_pixels(name: str, width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise NotAnImageError(f"{name}: the image is empty ({width}×{height} px)")
    if width * height > MAX_PIXELS:
        raise _too_large(name, width * height, (width, height))


def check_photo_size(photo: "Photo", what: str = "") -> None:
    """A photo whose sides are both at least :data:`MIN_SIDE` px, else NotAnImageError (saying its size)."""
    W, H = photo.size
    if min(W, H) < MIN_SIDE:
        was = (f" ({photo.original_size[0]}×{photo.original_size[1]} px before downscaling)"
               if photo.original_size[0] and tuple(photo.original_size) != (W, H) else "")
        raise NotAnImageError(f"{what or photo.source}: the image is {W}×{H} px{was}; a photo of a person needs at "
                              f"least {MIN_SIDE} px on each side")


def _grey_to_uint8(a: np.ndarray, full_scale: float) -> np.ndarray:
    a = np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0, posinf=full_scale, neginf=0.0)
    return np.clip(np.rint(a * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def _float_full_scale(a: np.ndarray) -> float:
    top = float(np.nanmax(a)) if a.size and np.isfinite(a).any() else 0.0
    return 1.0 if top <= 1.0 else (255.0 if top <= 255.0 else 65535.0)


def _pil_to_rgb(im) -> np.ndarray:
    """A PIL image of any mode -> (H,W,3) uint8 RGB; 16/32-bit grey scaled to 8 bits (PIL would clip it at 255)."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im)
        if mode.startswith("I;16"):
            full = 65535.0
        elif mode == "I":
            full = 65535.0 if a.size and int(a.max()) > 255 else 255.0
        else:
            full = _float_full_scale(a)
        return np.repeat(_grey_to_uint8(a, full)[..., None], 3, axis=2)
    if mode in ("P", "PA"):                  # through RGBA: PIL's advice for palettes with transparency
        im = im.convert("RGBA")
    return np.asarray(im.convert("RGB"))


def _from_array(a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise NotAnImageError(f"an image array must have shape (H, W, 3) (RGB), (H, W, 4) (RGBA), (H, W) or "
                              f"(H, W, 1) (grey) or (H, W, 2) (grey + alpha), got {a.shape}")
    _check_pixels("image array", a.shape[1], a.shape[0])
    if a.dtype == np.uint16:
        a = _grey_to_uint8(a, 65535.0)
    elif a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1:
            a = (a * 255 + 0.5).astype(np.uint8)
        else:
            raise NotAnImageError(f"an image array must be uint8 (0-255), uint16 (0-65535) or float in [0, 1], "
                                  f"got {a.dtype}")
    if a.shape[2] in (1, 2):                 # grey (+ alpha, dropped) -> RGB
        a = np.repeat(a[..., :1], 3, axis=2)
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

    if max_side is not None:
        try:
            ok = float(max_side) >= MIN_SIDE and float(max_side) == int(max_side)
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise InputError(f"max_side must be a whole number of pixels, at least {MIN_SIDE}, got {max_side!r}")
        max_side = int(max_side)
    exif, name = {}, "array"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {path}")
        name = str(path)
        try:
            with warnings.catch_warnings():
                # MAX_PIXELS is the limit here: PIL's "decompression bomb" warning below it says nothing new
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as im:
                    _check_pixels(name, *im.size)
                    exif = _exif_tags(im)
                    original = im.size                                  # stored size, before any reduction
                    if max_side and im.format == "JPEG" and max(im.size) > 2 * max_side:
                        im.draft("RGB", (max_side, max_side))          # decode big JPEGs at a reduced scale
                    im = ImageOps.exif_transpose(im)
                    im.load()
                    arr = _pil_to_rgb(im)
        except NotAnImageError:
            raise
        except Image.DecompressionBombError as e:                      # above PIL's own limit (≈ 179 MP)
            m = re.search(r"\((\d+) pixels\)", str(e))
            raise _too_large(name, int(m.group(1)) if m else MAX_PIXELS + 1) from None
        except UnidentifiedImageError as e:
            raise NotAnImageError(f"{path} is not an image PIL can read (expected a JPEG, PNG, ... file)") from e
        except (OSError, SyntaxError, ValueError) as e:
            raise NotAnImageError(f"{path} could not be decoded (truncated or damaged image file?): {e}") from e
    elif hasattr(source, "convert") and hasattr(source, "size"):          # a PIL image
        name = "PIL image"
        _check_pixels(name, *source.size)
        exif = _exif_tags(source)
        original = source.size
        arr = _pil_to_rgb(ImageOps.exif_transpose(source))
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
