"""``download_cmu``: fetch CMU ASF/AMC trials from the official site (mocap.cs.cmu.edu), safely.

URL layout of the CMU site (one folder per subject, the subject's skeleton and its trials):

    http://mocap.cs.cmu.edu/subjects/{SS}/{SS}.asf        e.g. subjects/02/02.asf
    http://mocap.cs.cmu.edu/subjects/{SS}/{SS}_{TT}.amc   e.g. subjects/02/02_01.amc

with SS the subject zero-padded to two digits (three for subjects >= 100, e.g. 131/131_01.amc)
and TT the trial zero-padded to two digits. Files are written to the same layout under ``dest``
(default ``posekit.utils.data_home() / "cmu" / "asfamc"``), where ``pose_dataset`` finds them.

Guarantees: atomic writes (bytes go to ``<file>.part``, renamed onto the final name only after
the size and SHA-256 check), resumable (an existing ``.part`` is continued with an HTTP ``Range``
request; a dropped connection is retried from where it stopped), a manifest
(``dest/manifest.json``, written atomically) with the SHA-256 and size of each file: known hashes
are verified, unknown ones recorded on first download. Offline -> :class:`CMUDownloadError`
(a ``ConnectionError``) saying what to do instead. Standard library only (``urllib``).

Every trial: ``download_cmu("all")`` fetches the 2,435 trials (109 subjects) listed in ``cmu_trials.csv``
(shipped beside this module; :func:`cmu_all_trials`, :func:`cmu_subjects`), about 1.7 GB of AMC files at the
shared set's mean of 0.71 MB per trial. An interrupted run resumes: verified files are skipped, ``.part`` files
continued.

CMU terms: "The data used in this project was obtained from mocap.cs.cmu.edu. The database was
created with funding from NSF EIA-0196217." Free for research; do not resell the data.
"""
from __future__ import annotations

import csv
import hashlib
import http.client
import json
import os
import re
import socket
import urllib.error
import time
import urllib.request
from pathlib import Path
from typing import Iterable

from posekit.errors import InputError
from posekit.utils import atomic_path, data_home

__all__ = ["download_cmu", "cmu_trial_files", "cmu_all_trials", "cmu_subjects", "cmu_trial_index",
           "CMUDownloadError", "ChecksumError", "IncompleteDownloadError", "DEFAULT_BASE_URL", "CMU_TRIALS",
           "sha256_file"]

DEFAULT_BASE_URL = "http://mocap.cs.cmu.edu/subjects"
_CHUNK = 1 << 16
_TRIAL = re.compile(r"^(\d{1,3})_(\d{1,3})$")

_OFFLINE_HELP = (
    "Could not reach {url} ({err}). Without internet use real data already on disk: set POSEKIT_DATA to a "
    "folder with a 'cmu' sub-folder of .bvh/.amc files, or place the shared dev set at ../shared/data/cmu "
    "beside the repository; otherwise posekit.data.pose_dataset() falls back to the SYNTHETIC sampler.")


class CMUDownloadError(ConnectionError):
    """The CMU site could not be reached, or a download failed; the message says what to do."""


class IncompleteDownloadError(CMUDownloadError):
    """The server closed the connection before the whole file arrived (the ``.part`` is kept: rerun to resume)."""


class ChecksumError(CMUDownloadError):
    """A downloaded file's SHA-256 or size differs from the manifest (the file is deleted)."""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(_CHUNK), b""):
            h.update(b)
    return h.hexdigest()


def cmu_trial_files(trial: str) -> tuple[str, str]:
    """Relative paths (skeleton, motion) of a trial id: "2_1" / "02_01" -> ("02/02.asf", "02/02_01.amc")."""
    m = _TRIAL.match(str(trial).strip())
    if not m:
        raise ValueError(f"bad CMU trial id {trial!r}: expected 'SS_TT' such as '02_01' or '131_04'")
    s, t = int(m.group(1)), int(m.group(2))
    if s < 1 or t < 1:
        raise ValueError(f"bad CMU trial id {trial!r}: subject and trial numbers start at 1")
    ss, tt = str(s).zfill(2), str(t).zfill(2)
    return f"{ss}/{ss}.asf", f"{ss}/{ss}_{tt}.amc"


def _read_manifest(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: manifest is not valid JSON ({e}); expected "
                         '{"files": {"02/02.asf": {"sha256": ..., "size": ...}}}') from e
    files = data.get("files", {}) if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise ValueError(f"{path}: manifest has no 'files' mapping")
    return files


def _write_manifest(path: Path, files: dict, base_url: str) -> None:
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps({"source": base_url, "files": dict(sorted(files.items()))}, indent=1) + "\n")


def _open(url: str, start: int, timeout: float):
    req = urllib.request.Request(url, headers={"User-Agent": "posekit-download/1"})
    if start > 0:
        req.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(req, timeout=timeout)


def _fetch_once(url: str, part: Path, timeout: float, bar=None) -> bool:
    """One request appending to ``part`` (Range-resumed when it has bytes). True when complete."""
    start = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, start, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start > 0:      # nothing left to send: the .part already holds everything
            return True
        if e.code == 404:
            raise CMUDownloadError(f"{url}: not found (HTTP 404): no such CMU file; check the trial id") from e
        raise CMUDownloadError(f"{url}: HTTP error {e.code} {e.reason}") from e
    with resp:
        status = resp.status
        if start > 0 and status != 206:      # server ignored the Range: start again from scratch
            start = 0
        if status == 206:
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != start:
                raise CMUDownloadError(f"{url}: server answered Range bytes={start}- with "
                                       f"Content-Range {resp.headers.get('Content-Range')!r}")
        length = resp.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        got = 0
        with open(part, "ab" if start > 0 else "wb") as f:
            try:
                while True:
                    b = resp.read(_CHUNK)
                    if not b:
                        break
                    f.write(b)
                    got += len(b)
                    if bar is not None:
                        bar.update(len(b))
            except (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError) as e:
                if isinstance(e, http.client.IncompleteRead) and e.partial:
                    f.write(e.partial)
                    got += len(e.partial)
                return False
        return expected is None or got >= expected


def _download_file(url: str, final: Path, known: dict | None, timeout: float, retries: int, bar=None) -> dict:
    """Download ``url`` to ``final`` via ``final.part``; verify against ``known`` {sha256, size}; return it."""
    part = final.with_name(final.name + ".part")
    final.parent.mkdir(parents=True, exist_ok=True)
    done = False
    for _ in range(retries + 1):
        try:
            done = _fetch_once(url, part, timeout, bar)
        except urllib.error.URLError as e:
            raise CMUDownloadError(_OFFLINE_HELP.format(url=url, err=e.reason)) from e
        except (ConnectionError, socket.timeout, TimeoutError, OSError) as e:
            if isinstance(e, CMUDownloadError):
                raise
            raise CMUDownloadError(_OFFLINE_HELP.format(url=url, err=e)) from e
        if done:
            break
    if not done:
        raise IncompleteDownloadError(
            f"{url}: connection dropped {retries + 1} times before the whole file arrived; "
            f"{part.stat().st_size if part.exists() else 0} bytes kept in {part}: run download_cmu again to resume")
    entry = {"sha256": sha256_file(part), "size": part.stat().st_size}
    if known and (known.get("sha256") != entry["sha256"] or ("size" in known and int(known["size"]) != entry["size"])):
        part.unlink()
        raise ChecksumError(f"{url}: SHA-256 {entry['sha256']} / {entry['size']} B does not match the manifest "
                            f"({known.get('sha256')} / {known.get('size')} B); the download was deleted. "
                            "The file on the server changed or is corrupt; fix or remove the manifest entry.")
    os.replace(part, final)      # atomic: the final name only ever holds a verified file
    return entry


#: the trial list of the shared CMU set with the checksums of its files in CMU's own ASF/AMC format
SHARED_SET_MANIFEST = Path(__file__).resolve().parent / "sample" / "shared_set.json"


def shared_set_manifest() -> dict:
    """{"trials": [...], "files": {"SS/SS_TT.amc": {"sha256", "size"}}, "notes": {...}} of the shared set."""
    return json.loads(SHARED_SET_MANIFEST.read_text())


#: every trial of the CMU database: trial,subject,description (``tools/cmu_trials.py``; CMU terms in cmu_trials.md)
CMU_TRIALS = Path(__file__).resolve().parent / "cmu_trials.csv"


def cmu_trial_index(index: str | Path | None = None) -> list[dict]:
    """Rows {"trial": "SS_TT", "subject": int, "description": str} of ``index`` (default :data:`CMU_TRIALS`),
    in file order. A missing file, a missing column, a malformed or repeated id -> :class:`InputError`."""
    path = Path(index) if index is not None else CMU_TRIALS
    if not path.is_file():
        raise InputError(f"{path}: no such trial list; expected a CSV file with the columns trial,subject,description")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "trial" not in reader.fieldnames:
            raise InputError(f"{path}: no 'trial' column; expected the header trial,subject,description")
        rows, seen = [], set()
        for line, r in enumerate(reader, start=2):
            text = (r.get("trial") or "").strip()
            try:
                cmu_trial_files(text)
            except ValueError as e:
                raise InputError(f"{path}, line {line}: {e}") from None
            s, t = (int(x) for x in text.split("_"))
            trial = f"{str(s).zfill(2)}_{str(t).zfill(2)}"
            if trial in seen:
                raise InputError(f"{path}, line {line}: trial {trial} is listed twice; expected each id once")
            subject = (r.get("subject") or "").strip()
            if subject and subject != str(s):
                raise InputError(f"{path}, line {line}: subject {subject!r} does not match trial {trial}")
            seen.add(trial)
            rows.append({"trial": trial, "subject": s, "description": (r.get("description") or "").strip()})
    if not rows:
        raise InputError(f"{path}: no trials; expected one row per trial under the header trial,subject,description")
    return rows


def cmu_all_trials(index: str | Path | None = None) -> list[str]:
    """Every CMU trial id (``"01_01"`` ... ``"144_34"``: 2,435 trials) of ``index`` (default :data:`CMU_TRIALS`)."""
    return [r["trial"] for r in cmu_trial_index(index)]


def cmu_subjects(index: str | Path | None = None) -> list[int]:
    """The subject numbers of ``index`` (default :data:`CMU_TRIALS`: 109 subjects between 1 and 144), sorted."""
    return sorted({r["subject"] for r in cmu_trial_index(index)})


def _known_shared_hashes() -> dict:
    """The shared set's checksums, less the files its notes say differ from CMU's own."""
    shared = shared_set_manifest()
    return {k: v for k, v in shared["files"].items() if k not in shared.get("notes", {})}


#: seconds between manifest writes during a long download (it is also written when the run ends or stops)
MANIFEST_EVERY_S = 5.0


def download_cmu(trials: Iterable[str] | str, dest: str | Path | None = None, base_url: str = DEFAULT_BASE_URL,
                 manifest: str | Path | dict | None = None, timeout: float = 30, progress: bool = True,
                 retries: int = 3, trials_index: str | Path | None = None) -> list[Path]:
    """Download CMU ASF/AMC trials (e.g. ``["02_01", "05_03"]``) with their subject skeletons.

    trials: ids, or ``"shared"`` for every trial of the shared CMU set the priors were trained and
      tested on (``SHARED_SET_MANIFEST``; its known checksums are verified unless ``manifest`` is given),
      or ``"all"`` for every trial of ``trials_index`` (default :data:`CMU_TRIALS`, 2,435 trials; the shared
      set's known checksums are verified, the others recorded on first download, unless ``manifest`` is given).
    trials_index: with ``"all"``, another trial list in the format of :data:`CMU_TRIALS` (a CSV file with the
      columns trial,subject,description; :func:`cmu_trial_index` checks it).

    dest: target folder (default ``data_home() / "cmu" / "asfamc"``), laid out like the site
      (``{SS}/{SS}.asf``, ``{SS}/{SS}_{TT}.amc``).
    manifest: the manifest JSON path (default ``dest / "manifest.json"``) or a dict
      {"02/02.asf": {"sha256": ..., "size": ...}} of known-good entries (a dict is checked, and the
      results are recorded in ``dest / "manifest.json"``). Known entries are verified (mismatch ->
      :class:`ChecksumError`, nothing left at dest); unknown ones are recorded on first download.
    Files already at dest with a matching manifest entry are skipped (no network access); an interrupted
    run continues its ``.part`` files. ``progress``: tqdm bars over files and bytes.
    Returns the local ``.amc`` paths in the order of ``trials``. Offline -> :class:`CMUDownloadError`.
    """
    also_known: dict = {}
    if trials_index is not None and not (isinstance(trials, str) and trials == "all"):
        raise InputError(f"download_cmu: trials_index={str(trials_index)!r} is read only with trials='all'; "
                         "pass the trial ids themselves otherwise")
    if isinstance(trials, str) and trials == "shared":
        shared = shared_set_manifest()
        trials = shared["trials"]
        if manifest is None:
            manifest = shared["files"]
    elif isinstance(trials, str) and trials == "all":
        trials = cmu_all_trials(trials_index)
        if manifest is None:          # verified when fetched, recorded in the manifest only then
            also_known = _known_shared_hashes()
    if isinstance(trials, str):
        trials = [trials]
    trials = list(trials)
    if not trials:
        raise ValueError("download_cmu: no trials given (expected ids such as ['02_01', '05_03'])")
    pairs = [cmu_trial_files(t) for t in trials]
    dest = Path(dest) if dest is not None else data_home() / "cmu" / "asfamc"
    if isinstance(manifest, dict):
        known = {k: dict(v) for k, v in manifest.items()}
        manifest_path = dest / "manifest.json"
        recorded = _read_manifest(manifest_path)
        recorded.update(known)
    else:
        manifest_path = Path(manifest) if manifest is not None else dest / "manifest.json"
        recorded = _read_manifest(manifest_path)
        known = {**also_known, **recorded}

    wanted: list[str] = []
    for asf, amc in pairs:
        for rel in (asf, amc):
            if rel not in wanted:
                wanted.append(rel)
    todo_bytes = [int(known[r]["size"]) if "size" in known.get(r, {}) else None for r in wanted]
    bar = bytes_bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(wanted), unit="file", desc="download_cmu")
        bytes_bar = tqdm(total=None if None in todo_bytes else sum(todo_bytes), unit="B", unit_scale=True,
                         desc="bytes", leave=False)
    base = base_url.rstrip("/")
    last_write, unsaved, completed = time.monotonic(), False, False
    try:
        for rel in wanted:
            final = dest / rel
            k = known.get(rel)
            if final.is_file():
                if k is None:             # present but never recorded: record what is there
                    recorded[rel] = {"sha256": sha256_file(final), "size": final.stat().st_size}
                    unsaved = True
                    _tick(bar, bytes_bar, final.stat().st_size)
                    continue
                if sha256_file(final) == k.get("sha256"):
                    _tick(bar, bytes_bar, final.stat().st_size)
                    continue
                final.unlink()            # stale or corrupt copy: fetch again
            part = final.with_name(final.name + ".part")
            if bytes_bar is not None and part.is_file():
                bytes_bar.update(part.stat().st_size)     # continued below with a Range request
            recorded[rel] = _download_file(f"{base}/{rel}", final, k, timeout, retries, bytes_bar)
            unsaved = True
            _tick(bar, None, 0)
            if time.monotonic() - last_write >= MANIFEST_EVERY_S:
                _write_manifest(manifest_path, recorded, base_url)
                last_write, unsaved = time.monotonic(), False
        completed = True
    finally:
        # also on an error or Ctrl-C: what was verified so far is recorded (final names hold verified files only)
        if completed or unsaved:
            _write_manifest(manifest_path, recorded, base_url)
        for b in (bytes_bar, bar):
            if b is not None:
                b.close()
    return [dest / amc for _, amc in pairs]


def _tick(bar, bytes_bar, n: int) -> None:
    if bar is not None:
        bar.update(1)
    if bytes_bar is not None and n:
        bytes_bar.update(n)
