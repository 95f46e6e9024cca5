"""The student edition and the website, built from the repository's notebooks (slmlab.editions).

The student edition must hold every lesson, no output, no solution (no notebook of
notebooks/solutions/, no cell tagged `solution`, no worked body of an exercise stub), and the
cells tagged `answer` only without their outputs; and it must still run: nbval in the smoke
profile over 12, the lesson with a cell left out (`make test-student` runs all of them). The
website must fold every answer's outputs and show each dashboard as a line plus its picture.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from slmlab import editions

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
NBVAL_HERE = ("12_hyperparameter_search",)  # a `solution` cell left out, an `answer` cell kept


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    return editions.build_student(REPO, tmp_path_factory.mktemp("student"))


def _edition(student: Path) -> dict[str, nbformat.NotebookNode]:
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted((student / "notebooks").glob("*.ipynb"))}


def _teacher(stem: str):
    return nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)


def _stubs(source: str) -> set[str]:
    """Names of the functions and methods whose body raises NotImplementedError."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise) and n.exc is not None]
            if any("NotImplementedError" in ast.unparse(r.exc) for r in raises):
                names.add(node.name)
    return names


def _defs(source: str) -> dict[str, str]:
    """Each function or method of `source`, by name, as source text."""
    return {
        node.name: ast.get_source_segment(source, node)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_every_lesson_and_no_solution_notebook(student):
    assert sorted(_edition(student)) == sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    files = [p.relative_to(student).as_posix() for p in student.rglob("*") if p.is_file()]
    assert not [
        f for f in files if "solution" in f.lower() and f.endswith((".ipynb", ".py")) and not f.startswith("slmlab/")
    ]
    assert not [f for f in files if f.startswith("notebooks/") and not f.endswith(".ipynb")]  # no sources
    assert {"README.md", "AGENTS.md", "Makefile", "pyproject.toml", "slmlab/__init__.py"} <= set(files)


def test_no_output_reaches_students(student):
    for stem, nb in _edition(student).items():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{stem} cell {i}"
            assert "NBVAL_CHECK_OUTPUT" not in cell.metadata.get("tags", []), f"{stem} cell {i}"


def test_answer_and_solution_cells(student):
    edition = _edition(student)
    n_answers = n_solutions = 0
    for stem, nb in edition.items():
        texts = {c.source for c in nb.cells}
        for cell in _teacher(stem).cells:
            tags = cell.metadata.get("tags", [])
            if editions.SOLUTION in tags:
                n_solutions += 1
                assert cell.source not in texts, f"{stem}: a solution cell reached the student edition"
                assert not any(cell.source.strip() in t for t in texts)
            if editions.ANSWER in tags:
                n_answers += 1
                assert cell.cell_type == "code" and cell.outputs, f"{stem}: an answer tag on a cell with no outputs"
        for cell in nb.cells:
            assert editions.SOLUTION not in cell.metadata.get("tags", [])
    assert n_answers >= 8 and n_solutions >= 1  # the tags are in the sources (06-12)


def test_no_worked_answer_of_a_stub(student):
    """Every exercise stub reaches students as a stub, and no solution's body of it does."""
    checked = 0
    for stem, nb in _edition(student).items():
        solution = NOTEBOOKS / "solutions" / f"{stem}_solution.py"
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and not c.source.lstrip().startswith("%"))
        teacher = "\n".join(c.source for c in _teacher(stem).cells if c.cell_type == "code")
        stubs = _stubs(teacher)
        assert stubs <= _stubs(code), f"{stem}: an exercise stub lost its NotImplementedError"
        if solution.is_file():
            for name, body in _defs(solution.read_text(encoding="utf-8")).items():
                if name in stubs and "NotImplementedError" not in body:
                    assert body not in code, f"{stem}: the solution of {name} reached the student edition"
                    checked += 1
    assert checked >= 10


def test_archive_holds_the_folder(student):
    archive = student.parent / f"{editions.STUDENT_NAME}.zip"
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
    files = {p.relative_to(student.parent).as_posix() for p in student.rglob("*") if p.is_file()}
    assert names == files


@pytest.mark.slow
def test_student_edition_runs_under_nbval(student, tmp_path):
    env = {
        **os.environ,
        "SLMLAB_PROFILE": "smoke",
        "SLMLAB_THREADS": "1",
        "MPLBACKEND": "Agg",
        "SLMLAB_RUNS_DIR": str(tmp_path / "runs"),
    }
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--nbval-lax",
        "--sanitize-with",
        str(REPO / "tests" / "nbval_sanitize.cfg"),
        *[f"notebooks/{stem}.ipynb" for stem in NBVAL_HERE],
    ]
    done = subprocess.run(cmd, cwd=student, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_book_folds_answers_and_shows_dashboards(tmp_path):
    stems = ["09_batch_size_and_accumulation", "12_hyperparameter_search"]
    index = editions.build_book(REPO, tmp_path, only=stems)
    front = index.read_text(encoding="utf-8")
    assert "Why val loss 9?" in front and all(f'href="{s}.html"' in front for s in stems)
    for stem in stems:
        page = (tmp_path / f"{stem}.html").read_text(encoding="utf-8")
        teacher = _teacher(stem)
        answers = sum(editions.ANSWER in c.metadata.get("tags", []) for c in teacher.cells)
        solutions = sum(editions.SOLUTION in c.metadata.get("tags", []) for c in teacher.cells)
        assert page.count('<details class="slmlab-fold slmlab-answer">') == answers
        assert page.count('<details class="slmlab-fold slmlab-solution">') == solutions
        assert 'src="http' not in page and "<script src=" not in page  # nothing loads from the network
        assert 'href="index.html"' in page
    dash_page = (tmp_path / f"{stems[0]}.html").read_text(encoding="utf-8")
    assert "VBox(children=" not in dash_page and "Live dashboard." in dash_page
    assert dash_page.count("data:image/png;base64") >= 5  # the figures travel inside the page
