"""Write ``posekit/data/cmu_trials.csv``, the list of every CMU ASF/AMC trial, from the CMU index spreadsheet.

    python tools/cmu_trials.py [INDEX_CSV]     (default ../shared/data/cmu/cmu-mocap-index.csv)

The index is B. Hahne's compilation of the CMU web database (v1.00, 2008; see ../shared/data/cmu/SOURCES.md).
The rows kept are those whose first cell is a trial id ``SS_TT``; the columns written are the trial id, the
subject number and CMU's description of the trial (the subject's description is left out: it repeats).
"""
from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INDEX = ROOT.parent / "shared" / "data" / "cmu" / "cmu-mocap-index.csv"
OUT = ROOT / "posekit" / "data" / "cmu_trials.csv"
_TRIAL = re.compile(r"^(\d{1,3})_(\d{1,3})$")


def rows(index: Path) -> list[tuple[str, int, str]]:
    out = {}
    with open(index, encoding="utf-8", newline="") as f:
        for r in csv.reader(f):
            m = _TRIAL.match(r[0].strip()) if r else None
            if not m:
                continue
            s, t = int(m.group(1)), int(m.group(2))
            trial = f"{str(s).zfill(2)}_{str(t).zfill(2)}"
            desc = " ".join((r[1] if len(r) > 1 else "").split())
            if trial in out:
                raise SystemExit(f"{index}: trial {trial} listed twice")
            out[trial] = (trial, s, desc)
    return sorted(out.values(), key=lambda r: (r[1], int(r[0].split("_")[1])))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    index = Path(argv[0]) if argv else DEFAULT_INDEX
    if not index.is_file():
        raise SystemExit(f"{index}: no such file; give the path of cmu-mocap-index.csv (shared/data/cmu)")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["trial", "subject", "description"])
    rs = rows(index)
    w.writerows(rs)
    OUT.write_text(buf.getvalue(), encoding="utf-8")
    print(f"wrote {OUT}: {len(rs)} trials of {len({r[1] for r in rs})} subjects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
