"""The lesson notebooks as files: built from their sources, run headless, normalized.

Each notebook's source of truth is the jupytext py:percent file beside it
(notebooks/NN_topic.py for NN_topic.ipynb, the same in solutions/); the .ipynb
keeps the outputs of the last run (notebooks/jupytext.toml says how they pair).

- `python -m slmlab.notebooks sync [NB ...]` (`make sync`) rewrites each .ipynb's
  cells from its source. A cell whose type and source are unchanged keeps its
  outputs and id (a code cell whose code changed in layout or comments only, as
  `make format` changes it, counts as unchanged); any other cell comes without
  outputs, so nothing stale stays.
- `python -m slmlab.notebooks run [NB ...]` (`make course`) syncs, then runs each
  notebook top to bottom in the profile of $SLMLAB_PROFILE and writes the outputs
  back, so the committed outputs are those of a real run. With `--cells 8,14` (indices
  in the notebook, ids such as 04-08, or tags) it runs the cells in order, in one kernel,
  up to the last chosen one, and writes back the outputs of the chosen cells only: every
  other cell keeps its committed output (`make course NB=04_val_loss_9_clinic CELLS=8,14`).

Every write is atomic and normalized (one kernel spec, no timings or widget state).
The lesson session itself (start, Lesson, setup_check) is course.py's. This module
sits on top of everything and is imported by no other slmlab module.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import itertools
import string
import sys
import time
from pathlib import Path

from .files import atomic_write_text

__all__ = ["sources", "read_source", "merge", "normalize", "sync", "chosen_cells", "run_notebooks", "main"]

SOURCE_FORMAT = "py:percent"
CELL_TIMEOUT_S = 1800  # the longest one cell may run headless (a cpu-profile sweep)
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


# ---------------------------------------------------------------------------
# Sources and their notebooks


def sources(root: Path, only: list[str] | None = None) -> list[Path]:
    """The lesson and solution sources under `root`, in teaching order; `only` picks by
    stem or name (05_data_size, 05_data_size.ipynb or .py). Each .ipynb must have one."""
    paths = _lessons_and_solutions(root, "py")
    orphans = [nb for nb in _lessons_and_solutions(root, "ipynb") if not nb.with_suffix(".py").is_file()]
    if orphans:
        raise SystemExit(
            f"{orphans[0]} has no source: create it with `jupytext --to {SOURCE_FORMAT} {orphans[0]}` and commit it"
        )
    if not paths:
        raise SystemExit(f"no notebook sources (NN_topic.py) under {root}")
    if only:
        wanted = {Path(name).stem for name in only}
        paths = [p for p in paths if p.stem in wanted]
        missing = wanted - {p.stem for p in paths}
        if missing:
            raise SystemExit(f"no notebook source named {', '.join(sorted(missing))} under {root}")
    return paths


def _lessons_and_solutions(root: Path, suffix: str) -> list[Path]:
    return sorted(root.glob(f"[0-9][0-9]_*.{suffix}")) + sorted((root / "solutions").glob(f"*.{suffix}"))


def read_source(path: Path):
    """The notebook a py:percent source describes: cell types, sources and tags."""
    import jupytext

    return jupytext.read(path, fmt=SOURCE_FORMAT)


def _key(cell) -> tuple[str, str]:
    """What must match for a cell to keep its outputs: a code cell's syntax tree (so a change
    of layout or comments only, as `make format` makes, keeps them) and whether its last line
    ends in ';' (which hides the cell's value, and is no part of the tree); otherwise the text."""
    if cell.cell_type == "code":
        try:
            tree = ast.dump(ast.parse(cell.source))
        except SyntaxError:  # IPython magics, a cell left unfinished
            return cell.cell_type, cell.source
        return cell.cell_type, f"{tree} {cell.source.rstrip().endswith(';')}"
    return cell.cell_type, cell.source


def _suffixes():
    """a, b, ..., z, aa, ab, ...: the letters a new cell's id adds to the one before it."""
    for n in itertools.count(1):
        for letters in itertools.product(string.ascii_lowercase, repeat=n):
            yield "".join(letters)


def merge(source, old, prefix: str):
    """The notebook with the cells of `source` (read from a .py) and what `old` (the
    .ipynb, or None) ran, and how many cells are new or changed. Cells are matched in
    order, as difflib matches lines: an unchanged cell keeps its outputs, execution
    count and id; an edited one keeps its id only; a new one gets the id of the cell
    before it plus a letter (12 -> 12a, 12b). A fresh notebook's ids are prefix-00, -01..."""
    import nbformat

    if old is None:
        cells = [_fresh(c, f"{prefix}-{j:02d}") for j, c in enumerate(source.cells)]
        return nbformat.v4.new_notebook(cells=cells), len(cells)
    matcher = difflib.SequenceMatcher(
        None, [_key(c) for c in old.cells], [_key(c) for c in source.cells], autojunk=False
    )
    used = {c.id for c in old.cells}
    cells, base, changed = [], f"{prefix}-", 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k, src in enumerate(source.cells[j1:j2]):
            if tag == "equal":
                cell = nbformat.from_dict(old.cells[i1 + k])
                cell.source = src.source  # the same code, maybe laid out anew
                cell.metadata = src.metadata  # the source's tags; no stale view state
                base = cell.id
            elif i1 + k < i2:  # edited in place
                cell = _fresh(src, old.cells[i1 + k].id)
                base = cell.id
            else:  # inserted
                cell = _fresh(src, next(base + s for s in _suffixes() if base + s not in used))
                used.add(cell.id)
            changed += tag != "equal"
            cells.append(cell)
    return nbformat.v4.new_notebook(cells=cells, metadata=old.metadata), changed


def _fresh(src, cell_id: str):
    """A copy of a source cell with nothing from a run (no outputs, no execution count)."""
    import nbformat

    cell = nbformat.from_dict(src)
    cell.id = cell_id
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def normalize(nb) -> None:
    """Drop what a run or an editor changes without meaning: cell timings, widget state,
    view state (collapsed, scrolled); the notebook metadata is one kernel spec. Cell ids
    are left as they are (merge gives them). A widget's view output goes too, its text stays:
    the widget state is not saved, so a trusted copy would show "model not found" where the
    text (and the static picture below each dashboard) reads fine."""
    nb.metadata = {"kernelspec": dict(KERNEL), "language_info": {"name": "python"}}
    for cell in nb.cells:
        for key in ("execution", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        for out in cell.get("outputs", []):
            out.get("metadata", {}).pop("execution", None)
            out.get("data", {}).pop(WIDGET_VIEW, None)


def _write(nb, path: Path) -> bool:
    """Write a normalized notebook atomically; False when the file already holds it."""
    import nbformat

    normalize(nb)
    text = nbformat.writes(nb).rstrip("\n") + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True


# ---------------------------------------------------------------------------
# Sync and run


def sync(source_path: Path):
    """Rebuild the .ipynb beside `source_path` from it (see merge); return the notebook
    and how many of its cells are new or changed (a code one comes without outputs)."""
    import nbformat

    path = source_path.with_suffix(".ipynb")
    old = nbformat.read(path, as_version=4) if path.is_file() else None
    nb, fresh = merge(read_source(source_path), old, prefix=source_path.stem.split("_")[0])
    written = _write(nb, path)
    print(
        f"{path}: {'synced' if written else 'in sync'}" + (f", {fresh} new or changed cell(s)" if fresh else ""),
        flush=True,
    )
    return nb, fresh


def chosen_cells(nb, wanted: list[str]) -> list[int]:
    """The indices of the cells `wanted` names, in notebook order: each item is an index
    into nb.cells (markdown cells count), a cell id or a tag; an item that names no cell
    is an error, so a typo never runs the notebook without the cell it meant."""
    found = set()
    for item in wanted:
        if item.isdigit() and int(item) < len(nb.cells):
            hits = {int(item)}
        else:
            hits = {i for i, c in enumerate(nb.cells) if c.get("id") == item or item in c.metadata.get("tags", [])}
        if not hits:
            raise SystemExit(f"no cell {item!r} in the notebook (an index below {len(nb.cells)}, a cell id or a tag)")
        found |= hits
    return sorted(found)


def _execute(nb, path: Path, timeout: int, cells: list[str] | None) -> None:
    """Run `nb` in a kernel in its folder: every cell, or the cells up to the last of
    `cells` with the outputs of the chosen ones written into `nb` and the rest left as
    they were (their committed outputs; a changed cell that was not chosen has none)."""
    import copy

    from nbclient import NotebookClient

    resources = {"metadata": {"path": str(path.parent)}}
    if not cells:
        NotebookClient(nb, timeout=timeout, kernel_name=KERNEL["name"], resources=resources).execute()
        return
    chosen = chosen_cells(nb, cells)
    scratch = copy.deepcopy(nb)
    client = NotebookClient(scratch, timeout=timeout, kernel_name=KERNEL["name"], resources=resources)
    with client.setup_kernel():
        for index, cell in enumerate(scratch.cells[: chosen[-1] + 1]):
            client.execute_cell(cell, index)
    for i in chosen:
        if nb.cells[i].cell_type == "code":
            nb.cells[i].outputs = scratch.cells[i].outputs
            nb.cells[i].execution_count = scratch.cells[i].execution_count
    unrun = [i for i, c in enumerate(nb.cells) if c.get("outputs") == [] and scratch.cells[i].get("outputs")]
    if unrun:
        print(f"{path}: cell(s) {unrun} changed but were not chosen: they keep no outputs", flush=True)


def run_notebooks(paths: list[Path], timeout: int = CELL_TIMEOUT_S, cells: list[str] | None = None):
    """Sync each source's notebook, execute it in its own folder and save it with outputs
    (with `cells`, only those cells' outputs: see _execute). A notebook that fails keeps
    its synced cells and the outputs it had before. Returns (path, seconds) per notebook."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    times, failed = [], []
    for source_path in paths:
        nb, _ = sync(source_path)
        path = source_path.with_suffix(".ipynb")
        t0 = time.perf_counter()
        try:
            _execute(nb, path, timeout, cells)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
            # keep going: one broken or stuck notebook must not hide the rest
            failed.append(path)
            why = "TIMED OUT" if isinstance(e, CellTimeoutError) else "FAILED"
            last = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            print(f"{path}: {why} after {time.perf_counter() - t0:.0f} s: {last[:300]}", flush=True)
            continue
        secs = time.perf_counter() - t0
        _write(nb, path)
        times.append((path, secs))
        print(f"{path}: {secs:.0f} s", flush=True)
    if failed:
        raise SystemExit(f"{len(failed)} notebook(s) failed: {', '.join(p.name for p in failed)}")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slmlab.notebooks", description=__doc__.split("\n")[0])
    parser.add_argument(
        "action",
        choices=("sync", "run"),
        help="sync: cells from the sources, outputs kept where unchanged; run: sync, then execute",
    )
    parser.add_argument("notebooks", nargs="*", help="stems or names (default: every lesson and solution)")
    parser.add_argument("--root", type=Path, default=Path("notebooks"), help="the notebooks folder")
    parser.add_argument(
        "--cells",
        default="",
        help="run: the cells whose outputs to write back, comma-separated (indices, ids or tags); "
        "the cells before them run too, every other cell keeps its output (default: all)",
    )
    args = parser.parse_intermixed_args(argv)
    paths = sources(args.root, args.notebooks)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    if cells and (args.action != "run" or len(paths) != 1):
        raise SystemExit("--cells goes with `run` and one notebook")
    if args.action == "sync":
        fresh = sum(sync(p)[1] for p in paths)
        print(f"{len(paths)} notebooks from their sources: {fresh} new or changed cell(s), which `make course` runs")
        return 0
    times = run_notebooks(paths, cells=cells or None)
    print(f"{len(times)} notebooks, {sum(t for _, t in times):.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
