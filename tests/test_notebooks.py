"""Static checks on the notebooks: each opens with start(), has an exercise, and shows its figures.

slmlab.plots returns closed Figures, so a figure shows only as a cell's value or through
display(): a plot call silenced with ';' draws nothing in the saved notebook.
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(path):
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_shape(path):
    cells = code_cells(path)
    assert "start(" in cells[0] or "setup_check" in cells[0] or "start(" in cells[1], "first cell picks the profile"
    assert any("check_" in c and "NotImplementedError" in c for c in cells), "an exercise with a check"
    solution = path.parent / "solutions" / f"{path.stem}_solution.ipynb"
    assert solution.is_file(), f"worked solution {solution.name} is missing"
    silenced = [c.splitlines()[0][:60] for c in cells
                if re.search(r"^plots\.\w+\((.|\n)*\);\s*$", c.split("\n\n")[-1], re.M)]
    assert not silenced, f"figures silenced with ';' (use display(...)): {silenced}"
