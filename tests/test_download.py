"""download_cmu against a local HTTP server on 127.0.0.1 laid out like mocap.cs.cmu.edu/subjects.

The server serves real CMU files copied from the shared dev set into a temp dir (never into the
repo) and can misbehave per path: drop the connection mid-file (Content-Length larger than what
is sent), on the first request only (-> resume) or always (-> error).
"""
from __future__ import annotations

import hashlib
import re
import http.server
import json
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from posekit.data.download import (ChecksumError, CMUDownloadError, IncompleteDownloadError, cmu_trial_files,
                                   download_cmu)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):  # quiet
        pass

    def do_GET(self):
        srv = self.server
        rel = self.path.split("/subjects/", 1)[-1]
        srv.requests.append((rel, self.headers.get("Range")))
        p = srv.root / rel
        if not p.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = p.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.support_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        mode = srv.truncate.get(rel)
        if mode == "always" or (mode == "once" and rel not in srv.truncated_once):
            srv.truncated_once.add(rel)
            cut = len(body) // 2
            self.wfile.write(body[:cut])          # promise len(body), send half, hang up
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            srv.bytes_sent += cut
            return
        self.wfile.write(body)
        srv.bytes_sent += len(body)


SHARED_ASFAMC = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmu" / "asfamc"


@pytest.fixture
def cmu_server(tmp_path):
    """A threaded HTTP server on 127.0.0.1 (free port) serving <root>/subjects/01/{01.asf,01_01.amc}:
    copies of the shared dev-set files (into a temp dir), or random bytes of similar size without them."""
    root = tmp_path / "site"
    (root / "01").mkdir(parents=True)
    if (SHARED_ASFAMC / "01_01.amc").is_file():
        shutil.copy(SHARED_ASFAMC / "01.asf", root / "01" / "01.asf")
        shutil.copy(SHARED_ASFAMC / "01_01.amc", root / "01" / "01_01.amc")
    else:
        rng = np.random.default_rng(0)
        (root / "01" / "01.asf").write_bytes(rng.bytes(7314))
        (root / "01" / "01_01.amc").write_bytes(rng.bytes(2198831))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.root, srv.requests, srv.truncate, srv.truncated_once = root, [], {}, set()
    srv.support_range, srv.bytes_sent = True, 0
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    th.start()
    srv.base_url = f"http://127.0.0.1:{srv.server_address[1]}/subjects"
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(timeout=5)


def test_trial_files_layout():
    assert cmu_trial_files("2_1") == ("02/02.asf", "02/02_01.amc")
    assert cmu_trial_files("131_04") == ("131/131.asf", "131/131_04.amc")
    with pytest.raises(ValueError, match="SS_TT"):
        cmu_trial_files("walk")


def test_download_records_manifest_and_skips_second_time(cmu_server, tmp_path):
    dest = tmp_path / "dest"
    out = download_cmu(["01_01"], dest=dest, base_url=cmu_server.base_url, progress=False, timeout=5)
    assert out == [dest / "01" / "01_01.amc"]
    for rel in ("01/01.asf", "01/01_01.amc"):
        assert (dest / rel).read_bytes() == (cmu_server.root / rel).read_bytes()
    man = json.loads((dest / "manifest.json").read_text())["files"]
    assert man["01/01_01.amc"] == {"sha256": _sha(cmu_server.root / "01/01_01.amc"),
                                   "size": (cmu_server.root / "01/01_01.amc").stat().st_size}
    assert not list(dest.rglob("*.part")) and not list(dest.rglob(".*.tmp"))
    n = len(cmu_server.requests)
    download_cmu(["01_01"], dest=dest, base_url=cmu_server.base_url, progress=False, timeout=5)
    assert len(cmu_server.requests) == n      # complete files with the right hash: no request


def test_truncated_connection_is_resumed_with_range(cmu_server, tmp_path):
    cmu_server.truncate["01/01_01.amc"] = "once"
    dest = tmp_path / "dest"
    download_cmu(["01_01"], dest=dest, base_url=cmu_server.base_url, progress=False, timeout=5)
    src = cmu_server.root / "01/01_01.amc"
    assert _sha(dest / "01/01_01.amc") == _sha(src)
    amc_reqs = [r for r in cmu_server.requests if r[0] == "01/01_01.amc"]
    assert len(amc_reqs) == 2 and amc_reqs[0][1] is None
    half = (src.stat().st_size) // 2
    assert amc_reqs[1][1] == f"bytes={half}-"


def test_always_truncated_raises_and_keeps_part(cmu_server, tmp_path):
    cmu_server.truncate["01/01_01.amc"] = "always"
    dest = tmp_path / "dest"
    with pytest.raises(IncompleteDownloadError, match="resume"):
        download_cmu(["01_01"], dest=dest, base_url=cmu_server.base_url, progress=False, timeout=5, retries=1)
    assert not (dest / "01/01_01.amc").exists()
    assert (dest / "01/01_01.amc.part").is_file()


def test_resume_from_existing_part_file(cmu_server, tmp_path):
    dest = tmp_path / "dest"
    src = (cmu_server.root / "01/01_01.amc").read_bytes()
    (dest / "01").mkdir(parents=True)
    k = 1000003
    (dest / "01/01_01.amc.part").write_bytes(src[:k])
    download_cmu(["01_01"], dest=dest, base_url=cmu_server.base_url, progress=False, timeout=5)
    assert (dest / "01/01_01.amc").read_bytes() == src
    assert ("01/01_01.amc", f"bytes={k}-") in cmu_server.requests
    asf_size = (cmu_server.root / "01/01.asf").stat().st_size
    assert cmu_server.bytes_sent == asf_size + len(src) - k      # only the missing bytes travelled


def test_wrong_checksum_raises_and_leaves_nothing(cmu_server, tmp_path):
    dest = tmp_path / "dest"
    bad = {"01/01_01.amc": {"sha256": "0" * 64, "size": 123}}
    with pytest.raises(ChecksumError, match="does not match"):
        download_cmu(["01_01"], dest=dest, base_url=cmu_server.base_url, manifest=bad, progress=False, timeout=5)
    assert not (dest / "01/01_01.amc").exists()
    assert not (dest / "01/01_01.amc.part").exists()


def test_known_good_manifest_verifies(cmu_server, tmp_path):
    dest = tmp_path / "dest"
    good = {"01/01_01.amc": {"sha256": _sha(cmu_server.root / "01/01_01.amc")}}
    download_cmu(["01_01"], dest=dest, base_url=cmu_server.base_url, manifest=good, progress=False, timeout=5)
    assert _sha(dest / "01/01_01.amc") == good["01/01_01.amc"]["sha256"]


def test_missing_trial_is_a_clear_error(cmu_server, tmp_path):
    with pytest.raises(CMUDownloadError, match="404"):
        download_cmu(["01_99"], dest=tmp_path / "d", base_url=cmu_server.base_url, progress=False, timeout=5)


def test_offline_closed_port_gives_clear_error(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                   # nothing listens there now
    with pytest.raises(ConnectionError) as ei:
        download_cmu(["01_01"], dest=tmp_path / "d", base_url=f"http://127.0.0.1:{port}/subjects",
                     progress=False, timeout=2)
    assert isinstance(ei.value, CMUDownloadError)
    msg = str(ei.value)
    assert "POSEKIT_DATA" in msg and "shared" in msg and "SYNTHETIC" in msg
    assert not list((tmp_path / "d").rglob("*.amc"))


def test_downloaded_trial_feeds_pose_dataset(cmu_server, tmp_path):
    """End to end: download -> the layout load_motion understands (ASF beside the AMC) -> a data set."""
    pytest.importorskip("posekit.data.asf_amc")
    if not (SHARED_ASFAMC / "01_01.amc").is_file():
        pytest.skip("needs the real AMC from ../shared/data/cmu")
    from posekit.data import pose_dataset
    dest = tmp_path / "data" / "cmu" / "asfamc"
    download_cmu(["01_01"], dest=dest, base_url=cmu_server.base_url, progress=False, timeout=5)
    ds = pose_dataset(tmp_path / "data" / "cmu", fps=30, split="none", cache=False, progress=False)
    assert [f["trial"] for f in ds.files] == ["01_01"] and ds.files[0]["format"] == "asfamc"
    assert len(ds.train) == (2751 - 1) * 30 // 120 + 1     # 2751 AMC frames at 120 fps (SOURCES.md)


# ------------------------------------------------------------------------------- download_cmu("all")

#: a small fake CMU database: subjects outside the shared set (whose known checksums "all" verifies)
FAKE_TRIALS = {3: (1, 2, 3), 43: (1, 2), 143: (1, 4)}


def _fake_cmu(srv, tmp_path) -> tuple[Path, list[str]]:
    """Random files for FAKE_TRIALS under the server's root and their trial list (trial,subject,description)."""
    rng = np.random.default_rng(1)
    lines, trials = ["trial,subject,description"], []
    for s, ts in FAKE_TRIALS.items():
        ss = str(s).zfill(2)
        (srv.root / ss).mkdir(parents=True, exist_ok=True)
        (srv.root / ss / f"{ss}.asf").write_bytes(rng.bytes(7000 + s))
        for t in ts:
            trial = f"{ss}_{t:02d}"
            (srv.root / ss / f"{trial}.amc").write_bytes(rng.bytes(50000 + 1000 * t + s))
            lines.append(f'{trial},{s},"walk, turn {t}"')
            trials.append(trial)
    index = tmp_path / "trials.csv"
    index.write_text("\n".join(lines) + "\n")
    return index, trials


def _files(trials) -> list[str]:
    return sorted({f for t in trials for f in cmu_trial_files(t)})


def test_all_downloads_every_listed_trial_and_skeleton_once(cmu_server, tmp_path):
    index, trials = _fake_cmu(cmu_server, tmp_path)
    dest = tmp_path / "dest"
    out = download_cmu("all", dest=dest, base_url=cmu_server.base_url, trials_index=index, progress=False, timeout=5)
    assert out == [dest / cmu_trial_files(t)[1] for t in trials]
    files = _files(trials)
    assert len(files) == len(trials) + len(FAKE_TRIALS)
    assert sorted(r for r, _ in cmu_server.requests) == files          # each file once, nothing else
    for rel in files:
        assert (dest / rel).read_bytes() == (cmu_server.root / rel).read_bytes()
    man = json.loads((dest / "manifest.json").read_text())["files"]
    assert sorted(man) == files                                         # unknown hashes recorded
    assert all(man[r] == {"sha256": _sha(dest / r), "size": (dest / r).stat().st_size} for r in files)
    assert not list(dest.rglob("*.part")) and not list(dest.rglob(".*.tmp"))
    n = len(cmu_server.requests)
    again = download_cmu("all", dest=dest, base_url=cmu_server.base_url, trials_index=index, progress=False,
                         timeout=5)
    assert again == out and len(cmu_server.requests) == n                # verified files: no network request


def test_all_interrupted_run_resumes(cmu_server, tmp_path):
    index, trials = _fake_cmu(cmu_server, tmp_path)
    dest = tmp_path / "dest"
    cut = "43/43_02.amc"
    cmu_server.truncate[cut] = "always"
    with pytest.raises(IncompleteDownloadError, match="resume"):
        download_cmu("all", dest=dest, base_url=cmu_server.base_url, trials_index=index, progress=False, timeout=5,
                     retries=0)
    files = _files(trials)
    before = [r for r, _ in cmu_server.requests]
    done = before[:-1]                                                  # the files fetched before the cut one
    assert before[-1] == cut and done and all((dest / r).is_file() for r in done)
    assert not (dest / cut).exists() and (dest / (cut + ".part")).is_file()
    assert sorted(json.loads((dest / "manifest.json").read_text())["files"]) == sorted(done)
    half = (cmu_server.root / cut).stat().st_size // 2
    assert (dest / (cut + ".part")).stat().st_size == half

    del cmu_server.truncate[cut]
    n = len(cmu_server.requests)
    download_cmu("all", dest=dest, base_url=cmu_server.base_url, trials_index=index, progress=True, timeout=5)
    resumed = cmu_server.requests[n:]
    assert resumed[0] == (cut, f"bytes={half}-")                        # the .part continued
    assert sorted(r for r, _ in resumed) == sorted(set(files) - set(done))   # verified files not fetched again
    for rel in files:
        assert (dest / rel).read_bytes() == (cmu_server.root / rel).read_bytes()
    assert not list(dest.rglob("*.part"))


def test_all_corrupt_file_with_known_hash_raises_and_leaves_nothing(cmu_server, tmp_path):
    index, trials = _fake_cmu(cmu_server, tmp_path)
    dest = tmp_path / "dest"
    good = {r: {"sha256": _sha(cmu_server.root / r)} for r in _files(trials)}
    bad = "143/143_04.amc"
    (cmu_server.root / bad).write_bytes(b"not the file the manifest describes")
    with pytest.raises(ChecksumError, match="does not match"):
        download_cmu("all", dest=dest, base_url=cmu_server.base_url, trials_index=index, manifest=good,
                     progress=False, timeout=5)
    assert not (dest / bad).exists() and not (dest / (bad + ".part")).exists()
    assert not list(dest.rglob(".*.tmp"))


def test_all_verifies_the_shared_set_checksums_by_default(cmu_server, tmp_path):
    """01_01 belongs to the shared set: "all" knows its checksums, so a corrupt copy on the server is refused."""
    (cmu_server.root / "01" / "01_01.amc").write_bytes(b"corrupt")
    index = tmp_path / "trials.csv"
    index.write_text("trial,subject,description\n01_01,1,playground\n")
    dest = tmp_path / "dest"
    with pytest.raises(ChecksumError, match="does not match"):
        download_cmu("all", dest=dest, base_url=cmu_server.base_url, trials_index=index, progress=False, timeout=5)
    assert not (dest / "01" / "01_01.amc").exists() and not list(dest.rglob("*.part"))


def test_shipped_trial_list():
    from posekit.data import cmu_all_trials, cmu_subjects
    from posekit.data.download import CMU_TRIALS, cmu_trial_index, shared_set_manifest

    trials = cmu_all_trials()
    assert len(trials) > 2000 and len(set(trials)) == len(trials)
    assert all(re.fullmatch(r"\d{2,3}_\d{2}", t) for t in trials)
    assert all(cmu_trial_files(t)[1] == f"{t.split('_')[0]}/{t}.amc" for t in trials)
    assert set(shared_set_manifest()["trials"]) <= set(trials)
    subjects = cmu_subjects()
    assert len(subjects) > 100 and subjects == sorted({int(t.split("_")[0]) for t in trials})
    rows = {r["trial"]: r for r in cmu_trial_index()}
    assert rows["01_01"]["description"] == "playground - forward jumps, turn around"
    notice = CMU_TRIALS.with_suffix(".md").read_text()
    assert "obtained from mocap.cs.cmu.edu" in notice and "NSF EIA-0196217" in notice


@pytest.mark.parametrize("text, fragment", [
    ("trial,subject,description\n01_01,1,a\nwalk,1,b\n", "line 3: bad CMU trial id 'walk'"),
    ("trial,subject,description\n01_01,1,a\n1_1,1,b\n", "line 3: trial 01_01 is listed twice"),
    ("trial,subject,description\n02_01,3,a\n", "subject '3' does not match trial 02_01"),
    ("id,description\n01_01,a\n", "no 'trial' column"),
    ("trial,subject,description\n", "no trials"),
])
def test_bad_trial_list_is_an_input_error(tmp_path, text, fragment):
    from posekit.errors import InputError

    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=re.escape(fragment)):
        download_cmu("all", dest=tmp_path / "d", base_url="http://127.0.0.1:9/subjects", trials_index=p,
                     progress=False)
    assert not (tmp_path / "d").exists()


def test_download_command_line(cmu_server, tmp_path, monkeypatch, capsys):
    import posekit.data.download
    from posekit.data.__main__ import main

    index, trials = _fake_cmu(cmu_server, tmp_path)
    monkeypatch.setattr(posekit.data.download, "CMU_TRIALS", index)
    dest = tmp_path / "dest"
    argv = ["download", "--trials", "all", "--dest", str(dest), "--base-url", cmu_server.base_url]
    assert main(argv) == 0
    assert all((dest / r).is_file() for r in _files(trials))
    assert f"{len(trials)} trials in {dest}" in capsys.readouterr().out
    n = len(cmu_server.requests)
    assert main(argv + ["--no-progress"]) == 0 and len(cmu_server.requests) == n
    # bad input: one line on stderr, exit status 2, nothing fetched
    for extra, fragment in ((["--trials", "walk"], "--trials: bad CMU trial id 'walk'"),
                            (["--trials", "03_09"], "03/03_09.amc: not found (HTTP 404)")):
        capsys.readouterr()
        assert main(["download", "--dest", str(tmp_path / "d2"), "--base-url", cmu_server.base_url, "--no-progress",
                     *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and fragment in err and err.count("\n") == 1
    assert not list((tmp_path / "d2").rglob("*.amc")) if (tmp_path / "d2").exists() else True


def test_trials_index_only_with_all(tmp_path):
    from posekit.errors import InputError

    with pytest.raises(InputError, match="read only with trials='all'"):
        download_cmu(["01_01"], dest=tmp_path / "d", trials_index=tmp_path / "t.csv", progress=False)
    assert not (tmp_path / "d").exists()
