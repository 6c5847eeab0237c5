"""Every person in a photo: boxes, proposals from an offline detector, one crop per person.

MediaPipe's pose solution (``posekit.photo.detect``) returns one person per call: its BlazePose person
detector scores every candidate and keeps the best. Its Python API exposes neither the other candidates nor
their boxes, and the wheel bundles no other person detector (OpenCV 5's wheel has dropped the HOG people
detector; MediaPipe's task API needs model bundles downloaded at run time). :func:`find_people` therefore
runs that same offline pose model as a person detector, three ways:

1. **find, mask, repeat** on the whole photo: each person found is painted over with the photo's mean
   colour (their landmark box, widened by :data:`MASK_MARGIN`) and the pose model runs again, until it
   finds nobody or :data:`MAX_PEOPLE` people;
2. **tiles**: the same on overlapping tiles (2 × 2 and 3 × 3 grids, a quarter of a tile's side shared with
   its neighbour), each resized so that its long side is :data:`TILE_SIDE` px: a person 100 px tall in a
   1600 px street scene fills a third of a 3 × 3 tile, large enough for the detector (which sees its input
   at 224 × 224 px);
3. **one crop per person**: the pose model runs again on a square crop around each person's box (margin
   :data:`CROP_MARGIN`, upscaled so that its side is at least :data:`CROP_SIDE` px), with every *other*
   person's box outside this one painted over, so that a neighbour's hand is not taken for this person's
   wrist. The landmarks come back in pixels of the photo;
4. **finer tiles** (:func:`find_small_people`) when someone found is smaller than :data:`SMALL_PERSON` of the
   photo's shorter side: tiles of :data:`FINE_TILE_FRACTION` of it, the people found masked; a new detection
   counts when its own crop confirms it and it overlaps no one found before. On frames of the three sample
   photographs with people 60 to 120 px tall (``benchmarks/photo.py --small``, 10 frames of 1280 × 720 px, 30
   people) the four steps put a detection in 30 photographs of 30 (the first three: 29) and matched 23 people's
   boxes (IoU > 0.5; the first three: 22), with 7 other detections (7), in 2.9 s per frame instead of 1.4 s
   (medians): a small person's box is often wrong.

Two detections are the same person when their boxes overlap by more than :data:`SAME_PERSON` of the
smaller box (:func:`overlap`). A detection counts when at least :data:`MIN_TORSO_SEEN` of its four torso
landmarks (shoulders, hips) are visible or it has at least six visible landmarks (a chest-up portrait:
shoulders, elbows, face), its visible landmarks span at least :data:`MIN_PERSON_PX` px in a box no
thinner than :data:`MIN_ASPECT`, and its nose is not below its hips (where both are seen; the guesses come out
upside down at times); otherwise it is the detector's guess on texture.

The helpers (boxes, overlaps, crops, selection) need no detector and are tested without it; ``detector``
arguments follow ``PoseDetector``'s interface: ``landmarks(rgb) -> ((33,2) px, (33,))`` or NoPersonError.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pathlib import Path

from .errors import NoPersonError, PhotoError

#: the packaged sample photographs and their cached detections (``sample/README.md``)
SAMPLE_DIR = Path(__file__).parent / "sample"

__all__ = ["Person", "MAX_PEOPLE", "TILE_FRACTIONS", "CROP_SIDE", "CROP_MARGIN", "MASK_MARGIN", "SAME_PERSON",
           "MIN_PERSON_PX", "MIN_TORSO_SEEN", "landmark_box", "overlap", "square_crop", "mask_boxes", "tiles",
           "plausible", "dedupe", "find_people", "find_small_people", "FINE_TILE_FRACTION", "SMALL_PERSON",
           "FINE_SAME_PERSON", "refine_person", "select_people", "parse_person", "SAMPLE_DIR",
           "load_cached_people"]

#: the most people fitted in one photo
MAX_PEOPLE = 12
#: tile sides as fractions of the photo's shorter side
TILE_FRACTIONS = (1.0, 0.75, 0.5)
#: the second search's tiles (``find_small_people``), run when someone found is under SMALL_PERSON of the shorter side
FINE_TILE_FRACTION = 0.3
SMALL_PERSON = 0.25
#: a person the finer search adds overlaps no one found before by more than this fraction of the smaller box
FINE_SAME_PERSON = 0.2
#: shortest side (px) of a person's crop given to the pose model (smaller crops are upscaled)
CROP_SIDE = 256
#: a person's crop: their box plus this fraction of its longer side on every side
CROP_MARGIN = 0.25
#: a found person is masked out over their box plus this fraction of its longer side on every side
MASK_MARGIN = 0.12
#: two boxes that overlap by more than this fraction of the smaller one are one person
SAME_PERSON = 0.5
#: the visible landmarks of a person span at least this many pixels of the photo
MIN_PERSON_PX = 32.0
#: the visible landmarks' box is at least this wide for its height (or high for its width): not a sliver
MIN_ASPECT = 0.1
#: of the four torso landmarks (shoulders, hips), at least this many visible
MIN_TORSO_SEEN = 2
#: a landmark is "visible" above this MediaPipe visibility
SEEN = 0.5
_TORSO = (11, 12, 23, 24)                     # left/right shoulder, left/right hip (MediaPipe indices)


@dataclass
class Person:
    """One detected person: ``landmarks`` (33,2) and ``box`` (x0, y0, x1, y1) in pixels of the photo as loaded;
    ``visibility`` (33,); ``score`` the mean visibility of the torso landmarks; ``source`` how it was found."""

    landmarks: np.ndarray
    visibility: np.ndarray
    box: tuple = field(default=(0.0, 0.0, 0.0, 0.0))
    score: float = 0.0
    source: str = ""

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def landmark_box(landmarks, visibility, size=None, seen: float = SEEN) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1) px of the visible landmarks (all of them when none is visible), clipped to the
    image ``size`` (W, H) when given."""
    lm = np.asarray(landmarks, dtype=np.float64)
    vis = np.asarray(visibility, dtype=np.float64)
    pts = lm[vis > seen] if (vis > seen).any() else lm
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    if size is not None:
        W, H = size
        x0, x1 = np.clip([x0, x1], 0, W)
        y0, y1 = np.clip([y0, y1], 0, H)
    return float(x0), float(y0), float(x1), float(y1)


def overlap(a, b) -> float:
    """Intersection of boxes ``a`` and ``b`` over the area of the smaller one (1: one holds the other; 0: apart)."""
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(ix * iy / small) if small > 0 else 0.0


def square_crop(box, size, margin: float = CROP_MARGIN) -> tuple[int, int, int, int]:
    """A square-ish crop (x0, y0, x1, y1) of whole pixels around ``box``: its centre, its longer side plus
    ``margin`` of it on every side, clipped to the image ``size`` (W, H)."""
    W, H = size
    x0, y0, x1, y1 = (float(b) for b in box)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    half = 0.5 * max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    c = (max(0, int(np.floor(cx - half))), max(0, int(np.floor(cy - half))),
         min(W, int(np.ceil(cx + half))), min(H, int(np.ceil(cy + half))))
    return c


def mask_boxes(rgb: np.ndarray, boxes, margin: float = MASK_MARGIN, keep=None) -> np.ndarray:
    """A copy of ``rgb`` (H,W,3) with every box (x0, y0, x1, y1) px, widened by ``margin`` of its longer side, painted
    with the image's mean colour; pixels inside ``keep`` (a box) are left as they are."""
    out = rgb.copy()
    H, W = rgb.shape[:2]
    fill = rgb.reshape(-1, 3).mean(0).astype(rgb.dtype)
    keep_mask = None
    if keep is not None:
        keep_mask = np.zeros((H, W), bool)
        kx0, ky0, kx1, ky1 = (int(round(v)) for v in keep)
        keep_mask[max(0, ky0):max(0, ky1), max(0, kx0):max(0, kx1)] = True
    for x0, y0, x1, y1 in boxes:
        mx = my = margin * max(x1 - x0, y1 - y0)          # landmarks are joint centres: the body extends past them
        a, b = max(0, int(np.floor(x0 - mx))), max(0, int(np.floor(y0 - my)))
        c, d = min(W, int(np.ceil(x1 + mx))), min(H, int(np.ceil(y1 + my)))
        if c <= a or d <= b:
            continue
        region = np.zeros((H, W), bool)
        region[b:d, a:c] = True
        if keep_mask is not None:
            region &= ~keep_mask
        out[region] = fill
    return out


def tiles(size, fractions=TILE_FRACTIONS, share: float = 0.5) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles (x0, y0, x1, y1) of an image of ``size`` (W, H): for each f in ``fractions``,
    squares of side f × the image's shorter side, neighbours sharing ``share`` of a side (0.5: any person
    smaller than half a tile lies whole inside one), the last row and column flush with the image's edges."""
    W, H = size
    out = []
    for f in fractions:
        t = max(16, int(round(f * min(W, H))))
        step = max(1, int(round(t * (1 - share))))
        xs = sorted({*range(0, max(1, W - t + 1), step), max(0, W - t)})
        ys = sorted({*range(0, max(1, H - t + 1), step), max(0, H - t)})
        out += [(x, y, min(W, x + t), min(H, y + t)) for y in ys for x in xs]
    return list(dict.fromkeys(out))


def plausible(landmarks, visibility, seen: float = SEEN) -> bool:
    """A detection that shows a person: enough visible torso landmarks (or a visible chest-up figure), a
    visible extent of at least :data:`MIN_PERSON_PX` px, the nose (when seen) not below the hips (when seen).

    The last rule removes the detector's upside-down guesses on texture, and with them real people upside down
    (a handstand, a gymnast): such a person needs ``--box`` (a boxed person skips the search)."""
    vis = np.asarray(visibility, dtype=np.float64)
    torso = int((vis[list(_TORSO)] > seen).sum())
    if torso < MIN_TORSO_SEEN and int((vis > seen).sum()) < 6:
        return False
    lm = np.asarray(landmarks, dtype=np.float64)
    hips = [h for h in _TORSO[2:] if vis[h] > seen]
    if vis[0] > seen and hips and lm[0, 1] > lm[hips, 1].mean():
        return False                               # the nose below the hips: upside down, a guess on texture
    x0, y0, x1, y1 = landmark_box(landmarks, visibility, seen=seen)
    long, short = max(x1 - x0, y1 - y0), min(x1 - x0, y1 - y0)
    return long >= MIN_PERSON_PX and short >= MIN_ASPECT * long


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    if abs(scale - 1.0) < 1e-6:
        return rgb
    H, W = rgb.shape[:2]
    new = (max(1, round(W * scale)), max(1, round(H * scale)))
    return np.asarray(Image.fromarray(rgb).resize(new, Image.BILINEAR))


def _detect_in(rgb: np.ndarray, region, detector, target_side: int | None = None):
    """The pose model on ``region`` (x0, y0, x1, y1) of ``rgb``, resized so that its long side is ``target_side``
    (or its short side at least CROP_SIDE) -> (landmarks (33,2) px of ``rgb``, visibility) or None."""
    x0, y0, x1, y1 = region
    crop = rgb[y0:y1, x0:x1]
    h, w = crop.shape[:2]
    if min(h, w) < 16:
        return None
    s = target_side / max(h, w) if target_side else max(1.0, CROP_SIDE / min(h, w))
    try:
        lm, vis = detector.landmarks(_resize(crop, s))
    except NoPersonError:
        return None
    sx, sy = w / round(w * s) if s != 1 else 1.0, h / round(h * s) if s != 1 else 1.0
    return lm * np.array([sx, sy]) + np.array([x0, y0], dtype=np.float64), np.asarray(vis, dtype=np.float64)


def _add(people: list, lm, vis, size, source: str, region=None):
    """Append a new plausible person (not already in ``people``) -> (it or None, the box to mask next or None).

    ``region``: the tile searched; a detection whose visible box touches one of the tile's edges inside the
    photo is cut by the tile (a neighbouring tile holds it whole): it is masked, not added."""
    if not plausible(lm, vis):
        return None, None
    box = landmark_box(lm, vis, size)
    if box[2] - box[0] <= 1 or box[3] - box[1] <= 1:
        return None, None
    if region is not None:
        W, H = size
        x0, y0, x1, y1 = region
        tol = 0.02 * max(x1 - x0, y1 - y0)
        if ((x0 > 0 and box[0] - x0 < tol) or (y0 > 0 and box[1] - y0 < tol)
                or (x1 < W and x1 - box[2] < tol) or (y1 < H and y1 - box[3] < tol)):
            return None, box
    if any(overlap(p.box, box) > SAME_PERSON for p in people):
        return None, box
    person = Person(lm, vis, box, float(np.mean(vis[list(_TORSO)])), source)
    people.append(person)
    return person, box


def _find_mask_repeat(rgb, region, detector, people, size, target_sides, max_people, source, tries: int = 3):
    """Find, mask, repeat inside ``region`` at each scale of ``target_sides``; up to ``tries`` detections that
    add nobody (a duplicate, a person cut by the tile) are masked and searched past."""
    x0, y0, x1, y1 = region
    sub = rgb[y0:y1, x0:x1]
    tile = region if source == "tile" else None
    for side in target_sides:
        masked, misses = [], 0
        while len(people) < max_people and misses < tries:
            local = [(b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0)
                     for b in [p.box for p in people] + masked if overlap(b, region) > 0]
            got = _detect_in(mask_boxes(sub, local) if local else sub, (0, 0, x1 - x0, y1 - y0), detector, side)
            if got is None:
                break
            person, box = _add(people, got[0] + np.array([x0, y0]), got[1], size, source, tile)
            if person is None:
                if box is None:
                    break
                masked.append(box)
                misses += 1


def refine_person(rgb: np.ndarray, person: Person, others, detector) -> Person:
    """The pose model on a square crop around ``person`` (upscaled to at least CROP_SIDE px) with the boxes of
    ``others`` (outside this person's box) painted over -> the refined person, or ``person`` when the crop's
    detection is not the same person."""
    H, W = rgb.shape[:2]
    crop = square_crop(person.box, (W, H))
    img = mask_boxes(rgb, [o.box for o in others], keep=person.box) if others else rgb
    got = _detect_in(img, crop, detector)
    if got is None or not plausible(*got):
        return person
    box = landmark_box(got[0], got[1], (W, H))
    if overlap(box, person.box) <= SAME_PERSON:
        return person
    return Person(got[0], got[1], box, float(np.mean(got[1][list(_TORSO)])), person.source + "+crop")


def find_people(rgb: np.ndarray, detector, max_people: int = MAX_PEOPLE, use_tiles: bool = True,
                refine: bool = True, fine: bool = True) -> list[Person]:
    """Every person in ``rgb`` (H,W,3) uint8: find-mask-repeat on the whole image, then on tiles, then one crop
    per person (module docstring); ``fine``: then :func:`find_small_people` when someone found is small ->
    people sorted by box area, largest first ([] when nobody)."""
    H, W = rgb.shape[:2]
    people: list[Person] = []
    _find_mask_repeat(rgb, (0, 0, W, H), detector, people, (W, H), (None,), max_people, "whole photo")
    if use_tiles and len(people) < max_people:
        for t in tiles((W, H)):
            _find_mask_repeat(rgb, t, detector, people, (W, H), (None,), max_people, "tile")
    if refine:
        refined = [refine_person(rgb, p, [o for o in people if o is not p], detector) for p in people]
        # a tile's detection counts only when its own crop confirms it (the tiles' false alarms do not repeat)
        people = [r for p, r in zip(people, refined) if r is not p or p.source != "tile"]
    people = dedupe(people)
    if fine and use_tiles and refine and len(people) < max_people:
        people = find_small_people(rgb, detector, people, max_people)
    return people


def find_small_people(rgb: np.ndarray, detector, people: list, max_people: int = MAX_PEOPLE) -> list[Person]:
    """A second search on finer tiles (:data:`FINE_TILE_FRACTION` of the shorter side) when one of ``people`` (the
    first search's, confirmed) is smaller than :data:`SMALL_PERSON` of the shorter side: where one small person
    stands, others of their size may too, too small for the coarser tiles. ``people`` are masked and kept as they
    are; a new detection counts only when its own crop confirms it. -> people sorted by box area."""
    H, W = rgb.shape[:2]
    short = min(W, H)
    if not any(max(p.box[2] - p.box[0], p.box[3] - p.box[1]) < SMALL_PERSON * short for p in people):
        return people
    found = list(people)
    for t in tiles((W, H), fractions=(FINE_TILE_FRACTION,)):
        _find_mask_repeat(rgb, t, detector, found, (W, H), (None,), max_people, "fine tile")
    new = [p for p in found if not any(p is q for q in people)]
    confirmed = []
    for p in new:
        r = refine_person(rgb, p, [o for o in found if o is not p], detector)
        # a fine tile sees a part of a person already found (a head and shoulders): it must lie apart from them
        if r is not p and all(overlap(r.box, q.box) <= FINE_SAME_PERSON for q in people + confirmed):
            confirmed.append(r)
    return dedupe(list(people) + confirmed)


def dedupe(people: list) -> list:
    """People sorted by box area, largest first, without those whose box overlaps a larger one's by more than
    :data:`SAME_PERSON` of the smaller box."""
    out: list = []
    for p in sorted(people, key=lambda p: -p.area):
        if all(overlap(p.box, q.box) <= SAME_PERSON for q in out):
            out.append(p)
    return out


def parse_person(text) -> str | int:
    """``--person``: "all", "largest" or a whole number ≥ 0 (the index in the list sorted by size) -> str | int."""
    t = str(text).strip().lower()
    if t in ("all", "largest"):
        return t
    try:
        i = int(t)
    except ValueError:
        i = -1
    if i < 0 or str(i) != t.lstrip("+"):
        raise PhotoError(f"--person must be all, largest or a person's index (0 = the largest), got {text!r}")
    return i


def select_people(people: list, which="all") -> list:
    """``which``: "all", "largest" or an index into ``people`` (sorted largest first) -> the people to fit."""
    which = parse_person(which) if isinstance(which, str) else which
    if which == "all":
        return list(people)
    if which == "largest":
        return list(people[:1])
    if not 0 <= which < len(people):
        raise PhotoError(f"--person {which}: the photo has {len(people)} detected "
                         f"{'person' if len(people) == 1 else 'people'} (indices 0 to {len(people) - 1}, largest first)")
    return [people[which]]


def load_cached_people(path) -> list[Person]:
    """Detections saved as JSON ({"landmarks": 33 × [x, y] or a list of such, "visibility", "box"}) -> people,
    e.g. ``SAMPLE_DIR / "astronaut_mediapipe.json"`` (the detector's output on a packaged photograph)."""
    import json

    d = json.loads(Path(path).read_text())
    items = d["people"] if "people" in d else [d]
    out = []
    for it in items:
        lm = np.asarray(it["landmarks"], dtype=np.float64)
        vis = np.asarray(it["visibility"], dtype=np.float64)
        if lm.shape != (33, 2) or vis.shape != (33,):
            raise PhotoError(f"{path}: expected 33 landmarks [x, y] and 33 visibilities, got {lm.shape}, {vis.shape}")
        box = tuple(float(b) for b in it["box"]) if "box" in it else landmark_box(lm, vis)
        out.append(Person(lm, vis, box, float(np.mean(vis[list(_TORSO)])), it.get("detector", d.get("detector", "cached"))))
    return out
