"""Scan executed chapters for what a student should not see in their outputs.

    python tools/output_scan.py build/notebooks/*.ipynb      # exit 1 and one line per finding

What counts as a finding (:func:`scan_text`):

* a **machine path**: an absolute path under ``/root/``, ``/tmp/``, ``/home/``, ``/Users/``, ``/var/folders/``
  or ``C:\\Users\\``, or under a folder of this machine (:func:`machine_roots`: the repository, the home and
  temporary folders, the data and cache folders): a student's output names a file by its place in the data
  or in the package, never by where it lives on one machine;
* a **log line**: a line that starts with a bracketed tag such as ``[tune]``, ``[train]`` or
  ``[INFO]`` (progress logs belong in a log, not in a chapter), or a ``logging`` record
  (``INFO:posekit...:``, ``WARNING:root:``);
* an **object repr**: ``<... at 0x7f...>`` or ``<... object at ...>`` (a value printed without formatting).

Only text that a student reads is scanned: stream output (stdout, stderr), ``text/plain``,
``text/markdown`` and the text of ``text/html`` outputs (tags removed; plotly's inlined JavaScript, a
figure's JSON and images are not text). Tracebacks are errors, which the test run reports on its own.

``notebooks/conftest.py`` applies :func:`scan_outputs` to every cell that nbval executes (``make test``),
so every chapter is scanned in fast mode without running anything twice.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

GENERIC_ROOTS = ("/root/", "/tmp/", "/home/", "/Users/", "/var/folders/", "/private/var/", "C:\\Users\\")
LOG_LINE = re.compile(r"^\s*\[(?:[a-z][\w .:-]{0,30}|INFO|DEBUG|WARNING|WARN|ERROR)\]\s", re.MULTILINE)
LOGGING_RECORD = re.compile(r"^(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.]+:", re.MULTILINE)
OBJECT_REPR = re.compile(r"<[\w.]+(?: [^<>\n]{0,80})? (?:at|object at) 0x[0-9a-fA-F]+>")
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
TEXT_MIMES = ("text/html", "text/markdown", "text/plain")      # in the order a front end prefers


@dataclass(frozen=True)
class Finding:
    kind: str          # "machine path", "log line" or "object repr"
    text: str          # the offending excerpt (one line, shortened)
    cell: int | None = None
    notebook: str = ""

    def __str__(self) -> str:
        where = f"{self.notebook} cell {self.cell}: " if self.cell is not None else ""
        return f"{where}{self.kind}: {self.text}"


def machine_roots() -> list[str]:
    """Folders of this machine whose paths must not show: the generic ones, plus the repository, the home
    folder, the temporary folder and posekit's data and cache folders where they are set."""
    roots = list(GENERIC_ROOTS)
    here = Path(__file__).resolve().parent.parent
    extra = [here, Path.home(), Path(tempfile.gettempdir()), here.parent / "shared"]
    extra += [Path(os.environ[v]) for v in ("POSEKIT_DATA", "POSEKIT_CACHE") if os.environ.get(v)]
    for p in extra:
        s = str(p).rstrip("/\\")
        if len(s) > 1 and s + "/" not in roots:
            roots.append(s + "/")
    return roots


def _line_of(text: str, start: int, end: int) -> str:
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    line = text[a: b if b >= 0 else len(text)].strip()
    return line if len(line) <= 140 else line[:137] + "..."


def scan_text(text: str, roots: Sequence[str] | None = None) -> list[Finding]:
    """The findings in one piece of output text."""
    roots = machine_roots() if roots is None else roots
    found: list[Finding] = []
    for root in roots:
        # a path starts the text or follows a space, quote, bracket, '=' or ':'
        pat = re.compile(r"(?:^|(?<=[\s'\"(\[=:,]))" + re.escape(root))
        for m in pat.finditer(text):
            found.append(Finding("machine path", _line_of(text, m.start(), m.end())))
    for pat, kind in ((LOG_LINE, "log line"), (LOGGING_RECORD, "log line"), (OBJECT_REPR, "object repr")):
        for m in pat.finditer(text):
            found.append(Finding(kind, _line_of(text, m.start(), m.end())))
    unique, seen = [], set()
    for f in found:
        if (f.kind, f.text) not in seen:
            seen.add((f.kind, f.text))
            unique.append(f)
    return unique


def output_texts(outputs: Iterable) -> list[str]:
    """The text a student reads in a cell's outputs (nbformat output dicts)."""
    texts = []
    for out in outputs or ():
        kind = out.get("output_type")
        if kind == "stream":
            texts.append(out.get("text", ""))
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            mime = next((m for m in TEXT_MIMES if m in data), None)     # what a front end shows
            if mime is None or (mime == "text/plain" and any(k.startswith(("image/", "application/"))
                                                             for k in data)):
                continue                # an image or figure: its text/plain repr is not shown
            value = data[mime]
            value = "".join(value) if isinstance(value, list) else str(value)
            if mime == "text/html":
                value = html.unescape(_TAG.sub(" ", _SCRIPT_STYLE.sub(" ", value)))
            texts.append(value)
    return texts


def scan_outputs(outputs: Iterable, roots: Sequence[str] | None = None) -> list[Finding]:
    roots = machine_roots() if roots is None else roots
    found = []
    for text in output_texts(outputs):
        found += scan_text(text, roots)
    return found


def scan_notebook(path: Path, roots: Sequence[str] | None = None) -> list[Finding]:
    """The findings of every code cell of an executed notebook (cell numbers count all cells from 0)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            found += [Finding(f.kind, f.text, i, path.name) for f in scan_outputs(cell.get("outputs", []), roots)]
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path, help="executed .ipynb files")
    args = ap.parse_args(argv)
    total = 0
    for path in args.notebooks:
        found = scan_notebook(path)
        total += len(found)
        for f in found:
            print(f)
        if not found:
            print(f"{path.name}: clean")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
