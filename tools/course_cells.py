"""Give each chapter notebook its course cells (idempotent; rerun after changing posekit/course.py):

    python tools/course_cells.py notebooks/01_smpl_blend_shapes.ipynb [more.ipynb ...] [--check]

1. a launch cell ("Open in Colab" · "Launch Binder", from ``posekit.course``) right under the title;
2. a Colab install cell as the first code cell (it does nothing outside Colab), collapsed so that it is
   not the first thing read: its code is hidden in JupyterLab (``metadata.jupyter.source_hidden``) and
   shown as a one-line form on Colab (``# @title`` + ``cellView: form``), and it is tagged
   ``colab-install`` and ``remove-cell``, so the HTML pages (``make``, ``make site``) and slides leave it out;
3. ``# NBVAL_IGNORE_OUTPUT`` / ``# NBVAL_SKIP`` / ``# NBVAL_RAISES_EXCEPTION`` comment lines in code cells
   become the cell tags ``nbval-ignore-output`` / ``nbval-skip`` / ``raises-exception``;
4. the chapter's exercises from ``posekit.exercises.EXERCISES`` (chapter = the notebook name's prefix
   before ``_``) appended at the end: a heading, then per exercise a prompt, a stub that the student
   fills in and a check cell (an unfilled stub makes its check print "not implemented yet", so the
   notebook still runs under nbval); then its investigations (``posekit.exercises.INVESTIGATIONS``):
   a prompt with questions and an experiment cell that runs as it is and that the student changes;
5. the notebook metadata that JupyterLab writes when a kernel starts: the kernelspec of ipykernel's
   ``python3`` kernel and the language_info that this Python's ipykernel reports. With anything else
   (``"display_name": "Python 3"``, a bare ``{"name": "python"}``) JupyterLab rewrites the metadata on
   opening, and the chapter shows as modified before anything ran.

Cells the script writes carry ``metadata.posekit.generated`` and are replaced on every run; nothing else
is changed. Notebooks keep their outputs unless ``--clear-outputs`` is given: then outputs, execution
counts and saved widget state go (run it before committing a chapter that you ran). ``--check``
reports the notebooks that would change and exits 1 if any would.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from posekit import course  # noqa: E402
from posekit.exercises import EXERCISES, INVESTIGATIONS  # noqa: E402

MARKERS = {"NBVAL_IGNORE_OUTPUT": "nbval-ignore-output", "NBVAL_SKIP": "nbval-skip",
           "NBVAL_RAISES_EXCEPTION": "raises-exception", "NBVAL_CHECK_OUTPUT": "nbval-check-output"}
_MARKER_LINE = re.compile(r"^[ \t]*#[ \t]*(" + "|".join(MARKERS) + r")\b[^\n]*\n?", re.MULTILINE)


def _cell(kind: str, source: str, role: str, tags=()) -> nbformat.NotebookNode:
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    cell = make(source)
    cell.metadata["posekit"] = {"generated": role}
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


INSTALL_TITLE = "# @title Colab only: install posekit (click to show the code; does nothing elsewhere)\n"


def colab_install_cell() -> nbformat.NotebookNode:
    """The Colab install cell, collapsed: hidden code in JupyterLab, a titled form on Colab, left out of
    the HTML pages and slides (tags ``colab-install``, ``remove-cell``)."""
    cell = _cell("code", INSTALL_TITLE + course.colab_install_source(), "colab-install",
                 ["colab-install", "remove-cell"])
    cell.metadata["jupyter"] = {"source_hidden": True}
    cell.metadata["cellView"] = "form"
    return cell


def _generated(cell) -> str | None:
    return cell.get("metadata", {}).get("posekit", {}).get("generated")


def convert_markers(cell) -> bool:
    """Move nbval comment markers of a code cell into its tags. True if the cell changed."""
    if cell.cell_type != "code":
        return False
    found = [m.group(1) for m in _MARKER_LINE.finditer(cell.source)]
    if not found:
        return False
    cell.source = _MARKER_LINE.sub("", cell.source)
    tags = list(cell.metadata.get("tags", []))
    for m in found:
        if MARKERS[m] not in tags:
            tags.append(MARKERS[m])
    cell.metadata["tags"] = tags
    return True


def exercise_cells(chapter: str) -> list:
    items = EXERCISES.get(chapter, [])
    if not items:
        return []
    intro = ("## Exercises\n\nFill in each function (its name starts with `my_` where posekit has a function of "
             "the same name, so yours never replaces it), then run the cell below it: the check compares your "
             "function with posekit's on random inputs and tells you what to look at if it differs.")
    if INVESTIGATIONS.get(chapter):
        intro += (" The investigation at the end has no formula to write: run its experiment, change it as asked "
                  "and explain what you see.")
    cells = [_cell("markdown", intro, "exercise", ["exercise"])]
    for i, ex in enumerate(items, 1):
        cells += [
            _cell("markdown", f"**Exercise {i}.** {ex['prompt']}", "exercise", ["exercise"]),
            _cell("code", ex["stub"], "exercise", ["exercise"]),
            _cell("code", f"from posekit.exercises import {ex['check']}\n\n{ex['check']}({ex['function']})",
                  "exercise", ["exercise"]),
        ]
    for inv in INVESTIGATIONS.get(chapter, []):
        cells += [
            _cell("markdown", f"**Investigation: {inv['title']}.** {inv['prompt']}", "exercise",
                  ["exercise", "investigation"]),
            _cell("code", inv["code"], "exercise", ["exercise", "investigation"]),
        ]
    return cells


def kernel_metadata() -> dict:
    """The ``kernelspec`` and ``language_info`` that JupyterLab writes into a notebook when ipykernel's
    ``python3`` kernel starts (the language_info names this Python's version)."""
    from ipykernel.ipkernel import IPythonKernel
    from ipykernel.kernelspec import KERNEL_NAME

    return {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": KERNEL_NAME},
            "language_info": dict(IPythonKernel.language_info)}


def clear_outputs(nb) -> None:
    """Remove outputs, execution counts and saved widget state (what running a chapter adds)."""
    nb.metadata.pop("widgets", None)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = []
            c.execution_count = None
        c.metadata.pop("execution", None)


def refresh(nb, name: str) -> None:
    """Apply the course cells to the notebook ``nb`` (file name ``name``) in place."""
    nb.cells = [c for c in nb.cells if not _generated(c)]
    for c in nb.cells:
        convert_markers(c)
    launch = _cell("markdown", course.launch_links_markdown(name), "launch")
    install = colab_install_cell()
    title = 1 if nb.cells and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# ") else 0
    nb.cells.insert(title, launch)
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, install)
    nb.cells += exercise_cells(name.split("_", 1)[0])
    for c in nb.cells:                                  # stable ids for the generated cells
        if _generated(c) and "id" in c:
            c.id = f"posekit-{_generated(c)}-{nb.cells.index(c)}"
    nb.metadata.update(kernel_metadata())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--check", action="store_true", help="only report notebooks that would change")
    ap.add_argument("--clear-outputs", action="store_true", help="also remove outputs and execution counts")
    args = ap.parse_args(argv)
    changed = []
    for path in args.notebooks:
        before = path.read_text(encoding="utf-8")
        nb = nbformat.read(path, as_version=4)
        refresh(nb, path.name)
        if args.clear_outputs:
            clear_outputs(nb)
        after = nbformat.writes(nb) + "\n"
        if after.rstrip() != before.rstrip():
            changed.append(path)
            if not args.check:
                tmp = path.with_suffix(".ipynb.tmp")
                tmp.write_text(after, encoding="utf-8")
                tmp.replace(path)
        print(f"{path}: {'changed' if path in changed else 'up to date'}"
              f"{' (would change)' if args.check and path in changed else ''}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
