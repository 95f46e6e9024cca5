"""Each notebook agrees with its py:percent source, cell by cell, and `notebooks.sync`
keeps the outputs of unchanged cells only, and every notebook's first code cell works
where slmlab is not installed. Reads files; runs no kernel (the guard runs in IPython's shell
in a subprocess).

The agreement check here reads both files its own way (json for the .ipynb, jupytext
for the .py), so it does not lean on the merge it checks.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from slmlab import notebooks

ROOT = Path(__file__).parent.parent / "notebooks"
NOTEBOOKS = sorted(ROOT.glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
SOURCES = sorted(ROOT.glob("[0-9][0-9]_*.py")) + sorted((ROOT / "solutions").glob("*.py"))


def cells_of_notebook(path: Path) -> list[tuple]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"]), c["metadata"].get("tags", [])) for c in nb["cells"]]


def cells_of_source(path: Path) -> list[tuple]:
    nb = jupytext.read(path, fmt="py:percent")
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]


def disagreements(notebook: Path) -> list[str]:
    """One line per cell where the notebook and its source differ (type, source, tags)."""
    ours, theirs = cells_of_notebook(notebook), cells_of_source(notebook.with_suffix(".py"))
    lines = [
        f"cell {i}: {what} differs"
        for i, (a, b) in enumerate(zip(ours, theirs))
        for what, x, y in zip(("type", "source", "tags"), a, b)
        if x != y
    ]
    if len(ours) != len(theirs):
        lines.append(f"{len(ours)} cells in the notebook, {len(theirs)} in the source")
    return lines


def copy_pair(stem: str, to: Path) -> Path:
    for suffix in (".py", ".ipynb"):
        shutil.copy(ROOT / f"{stem}{suffix}", to / f"{stem}{suffix}")
    return to / f"{stem}.py"


# ---------------------------------------------------------------------------
# The committed pairs


def test_every_notebook_has_a_source_and_every_source_a_notebook():
    assert NOTEBOOKS, "no notebooks found"
    assert [p.with_suffix("") for p in NOTEBOOKS] == [p.with_suffix("") for p in SOURCES]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_agrees_with_its_source(path):
    assert not disagreements(path), f"{path.name} and its .py disagree (run `make sync`)"


def test_committed_notebooks_are_what_sync_writes(tmp_path):
    """Syncing an unchanged pair rewrites nothing: the committed .ipynb is normalized."""
    for source in SOURCES:
        (tmp_path / source.parent.name).mkdir(exist_ok=True)
        copy = tmp_path / source.parent.name / source.name
        shutil.copy(source, copy)
        shutil.copy(source.with_suffix(".ipynb"), copy.with_suffix(".ipynb"))
        _, fresh = notebooks.sync(copy)
        assert fresh == 0
        assert copy.with_suffix(".ipynb").read_bytes() == source.with_suffix(".ipynb").read_bytes(), (
            f"{source.with_suffix('.ipynb').name} is not normalized (run `make sync`)"
        )


# ---------------------------------------------------------------------------
# No-install start: the first code cell of every notebook opens with one guard


def first_code_cell(source: Path) -> str:
    return next(c.source for c in jupytext.read(source, fmt="py:percent").cells if c.cell_type == "code")


def _guard() -> str:
    """The guard as 00_start_here writes it: the cell up to the end of its try/except (its last
    `raise ... from None`: the one for Colab comes first)."""
    head, end, _ = first_code_cell(ROOT / "00_start_here.py").rpartition(") from None\n")
    return head + end


GUARD = _guard()


def test_every_notebook_opens_with_the_same_guard():
    assert GUARD.startswith("try:") and "    import slmlab  # noqa: F401\n" in GUARD
    assert "%pip install -e" in GUARD and "make setup" in GUARD
    unguarded = [s.name for s in SOURCES if not first_code_cell(s).startswith(GUARD + "\n")]
    assert not unguarded, f"first code cell without the guard of 00_start_here: {unguarded}"


def run_in_ipython(code: str, block_slmlab: bool) -> subprocess.CompletedProcess:
    """`code` as one cell in IPython's shell in a fresh interpreter (slmlab blocked or not)."""
    script = (
        "import sys\n"
        + ("sys.modules['slmlab'] = None\n" if block_slmlab else "")
        + "from IPython.core.interactiveshell import InteractiveShell\n"
        + f"result = InteractiveShell.instance().run_cell({code!r})\n"
        + "print('error:', type(result.error_in_exec).__name__)\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_the_guard_says_what_to_run_in_one_line_and_stops_the_cell():
    out = run_in_ipython(GUARD + "print('the cell went on')\n", block_slmlab=True)
    shown = (out.stdout + out.stderr).splitlines()
    assert "error: UsageError" in shown, shown  # an error: the cell, and Run All, stop here
    assert [line for line in shown if line != "error: UsageError"] == [
        "UsageError: slmlab is not installed in this kernel. Colab or a fresh kernel: clone "
        "the slmlab repository, run `%pip install -e <the clone>`, restart the kernel. "
        "A local checkout: run `make lab` (or `make setup`, then pick the .venv kernel)."
    ], shown  # no traceback


def test_the_guard_is_silent_where_slmlab_is_installed():
    out = run_in_ipython(GUARD + "print('the cell went on')\n", block_slmlab=False)
    assert out.stdout.splitlines() == ["the cell went on", "error: NoneType"] and not out.stderr


# ---------------------------------------------------------------------------
# The check can fail, and sync repairs what it finds


def edit(source: Path, old: str, new: str) -> None:
    text = source.read_text(encoding="utf-8")
    assert old in text
    source.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_agreement_check_finds_an_edited_cell_a_new_cell_and_a_tag(tmp_path):
    source = copy_pair("00_start_here", tmp_path)
    notebook = source.with_suffix(".ipynb")
    assert disagreements(notebook) == []
    edit(source, 'lesson = start("00_start_here")', 'lesson = start("00_start_here", seed=1)')
    assert disagreements(notebook) == ["cell 3: source differs"]
    edit(source, '# %% tags=["NBVAL_SKIP"]', "# %%")
    assert disagreements(notebook) == ["cell 1: tags differs", "cell 3: source differs"]
    source.write_text(source.read_text(encoding="utf-8") + '\n# %%\nprint("one more")\n', encoding="utf-8")
    assert disagreements(notebook)[-1] == "14 cells in the notebook, 15 in the source"


def test_sync_keeps_outputs_of_unchanged_cells_only(tmp_path):
    source = copy_pair("05_data_size", tmp_path)
    before = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    edit(source, "SEEDS = (1337, 2024)", "SEEDS = (1337, 7)")  # cell 1, the profile cell
    edit(
        source,
        "# %% [markdown]\n# ## 1. How much",
        '# %%\nprint("a new cell")\n\n# %%\nprint("another")\n\n# %% [markdown]\n# ## 1. How much',
    )
    nb, fresh = notebooks.sync(source)
    assert fresh == 3 and disagreements(source.with_suffix(".ipynb")) == []
    edited, new1, new2 = nb.cells[1:4]
    assert (edited.id, edited.outputs, edited.execution_count) == (before.cells[1].id, [], None)
    assert [new1.id, new2.id] == ["05-01a", "05-01b"] and new1.outputs == new2.outputs == []
    assert [c.id for c in nb.cells[4:]] == [c.id for c in before.cells[2:]]
    assert [c.get("outputs") for c in nb.cells[4:]] == [c.get("outputs") for c in before.cells[2:]]
    nbformat.validate(nb)
    written = source.with_suffix(".ipynb").read_bytes()
    assert notebooks.sync(source)[1] == 0 and source.with_suffix(".ipynb").read_bytes() == written


def test_sync_keeps_outputs_of_cells_only_laid_out_anew(tmp_path):
    """`make format` rewrites code cells' layout: a cell whose code parses to the same tree keeps
    its outputs and takes the new text; dropping the ';' that hides a cell's value does not."""
    source = copy_pair("00_start_here", tmp_path)
    before = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    edit(source, 'for name in ("synthetic"', '# a comment, and the loop laid out anew\nfor name in (\n    "synthetic"')
    edit(source, "check_unigram_loss(unigram_loss);", "check_unigram_loss(unigram_loss)")
    nb, fresh = notebooks.sync(source)
    assert fresh == 1 and disagreements(source.with_suffix(".ipynb")) == []
    assert "# a comment" in nb.cells[6].source and nb.cells[6].outputs == before.cells[6].outputs
    assert nb.cells[6].outputs and nb.cells[6].id == before.cells[6].id
    assert nb.cells[12].outputs == [] and before.cells[12].outputs  # its value would show now


def test_sync_builds_a_notebook_from_a_source_alone(tmp_path):
    source = tmp_path / "10_new_lesson.py"
    source.write_text('# %% [markdown]\n# # 10 · New\n\n# %% tags=["NBVAL_SKIP"]\nx = 1\n\n# %%\nx\n', encoding="utf-8")
    nb, fresh = notebooks.sync(source)
    on_disk = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    nbformat.validate(on_disk)
    assert fresh == 3 and [c.id for c in on_disk.cells] == ["10-00", "10-01", "10-02"]
    assert on_disk.cells[1].metadata == {"tags": ["NBVAL_SKIP"]} and on_disk.cells[2].outputs == []
    assert on_disk.metadata.kernelspec.name == "python3"


def test_a_notebook_without_a_source_is_named(tmp_path):
    copy_pair("00_start_here", tmp_path)
    shutil.copy(ROOT / "01_data_and_tokenizers.ipynb", tmp_path)
    with pytest.raises(SystemExit, match="01_data_and_tokenizers.ipynb has no source"):
        notebooks.sources(tmp_path)
    with pytest.raises(SystemExit, match="no notebook source named 07_nope"):
        notebooks.main(["sync", "--root", str(ROOT), "07_nope"])  # fails before any write


@pytest.mark.slow
def test_a_stuck_notebook_is_reported_and_the_next_one_still_runs(tmp_path, capsys):
    """A cell past the timeout is a reported failure (not a traceback), and later notebooks run."""
    (tmp_path / "01_stuck.py").write_text("# %%\nimport time\ntime.sleep(30)\n", encoding="utf-8")
    (tmp_path / "02_fine.py").write_text("# %%\nprint(6 * 7)\n", encoding="utf-8")
    paths = notebooks.sources(tmp_path, [])
    with pytest.raises(SystemExit, match="1 notebook"):
        notebooks.run_notebooks(paths, timeout=2)
    out = capsys.readouterr().out
    assert "01_stuck.ipynb: TIMED OUT" in out
    fine = nbformat.read(tmp_path / "02_fine.ipynb", as_version=4)
    assert fine.cells[0].outputs[0]["text"].strip() == "42"


def test_a_saved_widget_keeps_its_text_not_its_view():
    # the widget state is not saved, so a trusted notebook would show "model not found"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("dash")])
    nb.cells[0].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/plain": "VBox(children=(...))",
                notebooks.WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0},
            },
        )
    ]
    notebooks.normalize(nb)
    assert nb.cells[0].outputs[0]["data"] == {"text/plain": "VBox(children=(...))"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_cell_with_outputs_says_it_ran(path):
    """nbval refuses a cell with outputs and no execution count ("Unrun reference cell has outputs")."""
    nb = nbformat.read(path, as_version=4)
    unrun = [
        i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs") and c.execution_count is None
    ]
    assert not unrun, f"{path.name}: cells {unrun} have outputs but no execution count"
