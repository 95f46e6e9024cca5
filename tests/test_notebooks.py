"""Static checks on the notebooks: each picks its profile in its first code cell, has an
exercise, and shows its figures.

slmlab.plots returns closed Figures, so a figure shows only as a cell's value or through
display(): a plot call silenced with ';' draws nothing in the saved notebook.
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# The code cell that calls start(): the first, except in 00, which opens with the setup check.
PROFILE_CELL = {"00_start_here": 1}


def code_cells(path):
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _is_exercise(cell: str) -> bool:
    """A check_* call on code the student writes (a stub that raises NotImplementedError) or on
    a prediction they write before running (left None in the notebook)."""
    return "check_" in cell and (
        "NotImplementedError" in cell or re.search(r"^prediction = (None|\{\s*.*None)", cell, re.M) is not None
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_shape(path):
    cells = code_cells(path)
    first = PROFILE_CELL.get(path.stem, 0)
    starts = [i for i, c in enumerate(cells) if "from slmlab.course import start" in c]
    assert starts == [first], f"code cell {first}, and only it, picks the profile; found {starts}"
    assert re.search(rf'^\w+ = start\(\s*"{path.stem}"', cells[first], re.M), (
        f'the profile cell calls start("{path.stem}", ...)'
    )
    if first:
        assert re.search(r"^setup_check\(", cells[0], re.M), "00 opens with setup_check()"
    assert any(_is_exercise(c) for c in cells), "an exercise with a check"
    solution = path.parent / "solutions" / f"{path.stem}_solution.ipynb"
    assert solution.is_file(), f"worked solution {solution.name} is missing"
    silenced = [
        c.splitlines()[0][:60] for c in cells if re.search(r"^plots\.\w+\((.|\n)*\);\s*$", c.split("\n\n")[-1], re.M)
    ]
    assert not silenced, f"figures silenced with ';' (use display(...)): {silenced}"


@pytest.mark.slow
def test_run_cells_writes_back_the_chosen_cells_only(tmp_path):
    """`run --cells` runs every cell up to the last chosen one in one kernel (so a chosen cell
    sees what the cells before it defined), and keeps the committed output of every other cell."""
    import nbformat

    from slmlab import notebooks

    source = tmp_path / "01_small.py"
    source.write_text(
        '# %%\nx = 6\nprint("first", x)\n\n# %% [markdown]\n# text\n\n'
        '# %% tags=["answer"]\nprint("answer", x * 7)\n\n# %%\nprint("after", x)\n\n# %%\nprint("last")\n',
        encoding="utf-8",
    )
    notebooks.sync(source)
    path = source.with_suffix(".ipynb")
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):  # the "committed" outputs of an earlier run
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"old {i}\n")]
            cell.execution_count = i + 1
    nbformat.write(nb, path)
    assert notebooks.main(["run", "--root", str(tmp_path), "01_small", "--cells", "answer,3"]) == 0
    after = nbformat.read(path, as_version=4)
    texts = [c.outputs[0]["text"] if c.cell_type == "code" else None for c in after.cells]
    assert texts == ["old 0\n", None, "answer 42\n", "after 6\n", "old 4\n"]
    assert all(c.execution_count for c in after.cells if c.cell_type == "code")
    assert "execution" not in after.cells[2].metadata  # normalized as a full run is
    with pytest.raises(SystemExit, match="no cell 'nope'"):
        notebooks.main(["run", "--root", str(tmp_path), "01_small", "--cells", "nope"])
