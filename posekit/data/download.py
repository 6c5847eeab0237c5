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

CMU terms: "The data used in this project was obtained from mocap.cs.cmu.edu. The database was
created with funding from NSF EIA-0196217." Free for research; do not resell the data.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable

from posekit.utils import atomic_path, data_home

__all__ = ["download_cmu", "cmu_trial_files", "CMUDownloadError", "ChecksumError", "IncompleteDownloadError",
           "DEFAULT_BASE_URL", "sha256_file"]

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


def download_cmu(trials: Iterable[str] | str, dest: str | Path | None = None, base_url: str = DEFAULT_BASE_URL,
                 manifest: str | Path | dict | None = None, timeout: float = 30, progress: bool = True,
                 retries: int = 3) -> list[Path]:
    """Download CMU ASF/AMC trials (e.g. ``["02_01", "05_03"]``) with their subject skeletons.

    trials: ids, or ``"shared"`` for every trial of the shared CMU set the priors were trained and
      tested on (``SHARED_SET_MANIFEST``; its known checksums are verified unless ``manifest`` is given).

    dest: target folder (default ``data_home() / "cmu" / "asfamc"``), laid out like the site
      (``{SS}/{SS}.asf``, ``{SS}/{SS}_{TT}.amc``).
    manifest: the manifest JSON path (default ``dest / "manifest.json"``) or a dict
      {"02/02.asf": {"sha256": ..., "size": ...}} of known-good entries (a dict is checked, and the
      results are recorded in ``dest / "manifest.json"``). Known entries are verified (mismatch ->
      :class:`ChecksumError`, nothing left at dest); unknown ones are recorded on first download.
    Files already at dest with a matching manifest entry are skipped (no network access).
    Returns the local ``.amc`` paths in the order of ``trials``. Offline -> :class:`CMUDownloadError`.
    """
    if isinstance(trials, str) and trials == "shared":
        shared = shared_set_manifest()
        trials = shared["trials"]
        if manifest is None:
            manifest = shared["files"]
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
        known = dict(recorded)

    wanted: list[str] = []
    for asf, amc in pairs:
        for rel in (asf, amc):
            if rel not in wanted:
                wanted.append(rel)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=None, unit="B", unit_scale=True, desc="download_cmu")
    base = base_url.rstrip("/")
    try:
        for rel in wanted:
            final = dest / rel
            k = known.get(rel)
            if final.is_file():
                if k is None:             # present but never recorded: record what is there
                    recorded[rel] = {"sha256": sha256_file(final), "size": final.stat().st_size}
                    continue
                if sha256_file(final) == k.get("sha256"):
                    continue
                final.unlink()            # stale or corrupt copy: fetch again
            entry = _download_file(f"{base}/{rel}", final, k, timeout, retries, bar)
            recorded[rel] = entry
            _write_manifest(manifest_path, recorded, base_url)
    finally:
        if bar is not None:
            bar.close()
    _write_manifest(manifest_path, recorded, base_url)
    return [dest / amc for _, amc in pairs]
