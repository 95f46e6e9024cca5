"""The course's two other editions, built from the teacher edition (the committed notebooks).

- `python -m slmlab.editions student` (`make student`): every lesson with its exercise
  stubs, all outputs cleared and the solutions left out, in build/student/slmlab-student/
  (with the slmlab package and what `make lab` needs) and one archive of it,
  build/student/slmlab-student.zip. A student makes every prediction before its answer exists.
- `python -m slmlab.editions book` (`make book`): the course as a static website in
  build/book/ (index.html and one page per lesson and solution), exported offline with
  nbconvert from the saved outputs: every figure is embedded in its page, the dashboards are
  shown as their saved pictures with a line that they are live in JupyterLab, and the outputs
  that answer a prediction are folded (<details>, opened with a click).

Two cell tags in the notebook sources (py:percent headers, `# %% tags=["answer"]`) say which
cells give an answer away:
- `answer`: a code cell whose outputs answer a prediction asked above it (06's sweep after its
  predict-then-run). The student edition keeps the code, which later cells build on and which
  is the "run" of predict-then-run, without outputs (no cell there has any); the book folds
  its outputs.
- `solution`: a cell whose code is an exercise's answer (12's grid count). The student
  edition leaves it out, as it leaves out notebooks/solutions/; the book folds the whole cell.

The notebooks themselves (sources, sync, headless runs) are notebooks.py's; this module only
reads them. It sits on top of everything and is imported by no other slmlab module.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import time
import zipfile
from pathlib import Path

__all__ = ["ANSWER", "SOLUTION", "lessons", "student_notebook", "build_student", "book_notebook", "build_book", "main"]

ANSWER, SOLUTION = "answer", "solution"
STUDENT_NAME = "slmlab-student"
# what the student edition carries besides its notebooks: enough for `make lab` and the terminal tools
STUDENT_FILES = ("Makefile", "pyproject.toml", "environment.yml", "AGENTS.md")
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints"}
STUDENT_NOTE = """\
# slmlab, student edition

This is the student edition of the course: every lesson and exercise, with no outputs and
no solutions, so each prediction you make comes before its answer exists. Run the cells
yourself, top to bottom: `make lab` sets up a virtual environment and opens the course
(start with `notebooks/00_start_here.ipynb`). AGENTS.md says what an AI coding assistant
does here: it explains and points to the lesson, and leaves the exercises to you.

The course's README follows.

---

"""


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def lessons(root: Path, solutions: bool = False) -> list[Path]:
    """The lesson notebooks under `root` (NN_topic.ipynb), in teaching order; with
    `solutions`, then the worked solutions of notebooks/solutions/."""
    paths = sorted(root.glob("[0-9][0-9]_*.ipynb"))
    return paths + (sorted((root / "solutions").glob("*.ipynb")) if solutions else [])


# ---------------------------------------------------------------------------
# The student edition


def student_notebook(nb):
    """A copy of a teacher notebook for students: `solution` cells left out, every output and
    execution count cleared. NBVAL_CHECK_OUTPUT goes too (there is no output to compare with)."""
    import nbformat

    out = nbformat.from_dict(nb)
    cells = []
    for cell in out.cells:
        tags = _tags(cell)
        if SOLUTION in tags:
            continue
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if "NBVAL_CHECK_OUTPUT" in tags:
            cell.metadata["tags"] = [t for t in tags if t != "NBVAL_CHECK_OUTPUT"]
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
        cells.append(cell)
    out.cells = cells
    return out


def _copy_package(repo: Path, dest: Path) -> None:
    def ignore(_folder, names):
        return [n for n in names if n in SKIP_PARTS or n.endswith((".pyc", ".egg-info"))]

    shutil.copytree(repo / "slmlab", dest / "slmlab", ignore=ignore)


def build_student(repo: Path, out: Path) -> Path:
    """Write the student edition under out/slmlab-student/ and zip it as
    out/slmlab-student.zip; return the folder. Anything there before is replaced."""
    import nbformat

    from .notebooks import _write

    folder = out / STUDENT_NAME
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "notebooks").mkdir(parents=True)
    for path in lessons(repo / "notebooks"):
        _write(student_notebook(nbformat.read(path, as_version=4)), folder / "notebooks" / path.name)
    for name in STUDENT_FILES:
        if (repo / name).is_file():
            shutil.copy2(repo / name, folder / name)
    (folder / "README.md").write_text(STUDENT_NOTE + (repo / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    _copy_package(repo, folder)
    archive = out / f"{STUDENT_NAME}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            z.write(f, f.relative_to(out).as_posix())
    return folder


# ---------------------------------------------------------------------------
# The book: a static website, one page per notebook

WIDGET_TEXT = re.compile(r"^(VBox|HBox|Box|GridBox|Tab|Accordion|Output)\(children=")
LIVE_NOTE = (
    '<p class="slmlab-live"><b>Live dashboard.</b> Here the notebook has a dashboard '
    "(sliders, Train and Stop buttons, curves redrawn as a run trains). It is live only "
    "when the notebook runs in JupyterLab (<code>make lab</code>); this page shows the "
    "picture it saved, below.</p>"
)
ANSWER_SUMMARY = "Show the answer (make your prediction first)"
SOLUTION_SUMMARY = "Show a worked answer (try the exercise first)"

BOOK_TEMPLATE = """\
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<link rel="stylesheet" href="book.css">{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.slmlab_nav }}
{%- endblock body_header -%}
{%- block body_footer -%}
{{ resources.slmlab_nav }}
{{ super() }}
{%- endblock body_footer -%}
{% block codecell %}
{%- if 'solution' in cell.metadata.get('tags', []) -%}
<details class="slmlab-fold slmlab-solution"><summary>SOLUTION_SUMMARY</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock codecell %}
{% block outputs %}
{%- if 'answer' in cell.metadata.get('tags', []) -%}
<details class="slmlab-fold slmlab-answer"><summary>ANSWER_SUMMARY</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock outputs %}
""".replace("SOLUTION_SUMMARY", SOLUTION_SUMMARY).replace("ANSWER_SUMMARY", ANSWER_SUMMARY)

BOOK_CSS = """\
body { max-width: 1100px; margin: 0 auto; padding: 0 1em; }
nav.slmlab-nav { display: flex; justify-content: space-between; gap: 1em; padding: 0.6em 0;
  border-bottom: 1px solid #ddd; font-family: sans-serif; }
nav.slmlab-nav + main, main + nav.slmlab-nav { border-top: 1px solid #ddd; }
details.slmlab-fold { margin: 0.4em 0 0.4em 1em; }
details.slmlab-fold > summary { cursor: pointer; color: #8a4b00; font-family: sans-serif;
  padding: 0.3em 0; }
p.slmlab-live { background: #eef6ff; border-left: 4px solid #3b82f6; padding: 0.5em 0.8em; }
.slmlab-index li { margin: 0.3em 0; }
.slmlab-front { font-family: sans-serif; line-height: 1.5; }
"""


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def book_notebook(nb):
    """A copy of a teacher notebook for the website: each dashboard's saved text (the
    widget's repr) becomes a line saying it is live in JupyterLab; the rest is as saved."""
    import nbformat

    out = nbformat.from_dict(nb)
    for cell in out.cells:
        for o in cell.get("outputs", []):
            text = o.get("data", {}).get("text/plain", "")
            if WIDGET_TEXT.match("".join(text) if isinstance(text, list) else text):
                o["data"] = {"text/html": LIVE_NOTE, "text/plain": "(a live dashboard: run it in JupyterLab)"}
    return out


def _nav(pages: list[tuple[str, str]], i: int) -> str:
    """Links to the previous page, the contents and the next page."""
    prev = f'<a href="{pages[i - 1][0]}">&larr; {html.escape(pages[i - 1][1])}</a>' if i > 0 else "<span></span>"
    nxt = (
        f'<a href="{pages[i + 1][0]}">{html.escape(pages[i + 1][1])} &rarr;</a>'
        if i + 1 < len(pages)
        else "<span></span>"
    )
    return f'<nav class="slmlab-nav">{prev}<a href="index.html">Contents</a>{nxt}</nav>'


def _local_links(body: str) -> str:
    """Links between notebooks point at their pages (NN_topic.ipynb -> NN_topic.html)."""
    return re.sub(r'href="(?:\.\./|notebooks/|solutions/)*([0-9][0-9]_[\w]+)\.ipynb', r'href="\1.html', body)


def _readme_answer(readme: str) -> tuple[str, str, str]:
    """(title, intro, the answer section) of the README, as markdown."""
    lines = readme.splitlines()
    title = lines[0].lstrip("# ").strip()
    sections = re.split(r"(?m)^## ", readme)
    intro = sections[0].split("\n", 1)[1].strip()
    answer = next((s for s in sections[1:] if s.lower().startswith("why val loss 9")), "")
    heading, _, body = answer.partition("\n")
    return title, intro, f"## {heading}\n{body}".strip() if answer else ""


def _front_page(repo: Path, pages: list[tuple[str, str]], n_lessons: int) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    title, intro, answer = _readme_answer((repo / "README.md").read_text(encoding="utf-8"))
    items = "\n".join(f'<li><a href="{href}">{html.escape(t)}</a></li>' for href, t in pages[:n_lessons])
    sols = "\n".join(f'<li><a href="{href}">{html.escape(t)}</a></li>' for href, t in pages[n_lessons:])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(title)}</title><link rel="stylesheet" href="book.css"></head>
<body><main class="slmlab-front">
<h1>{html.escape(title)}</h1>
{markdown2html_mistune(intro)}
{markdown2html_mistune(answer)}
<h2>The lessons, in order</h2>
<p>Each page is a notebook as it ran in the <code>cpu</code> profile on a 2-core laptop, with its
outputs and figures. Where a lesson asks you to predict before you run a cell, the outputs that
answer it are folded: make your prediction, then click. The dashboards are live only in
JupyterLab (<code>make lab</code>); here they are the pictures they saved.</p>
<ol start="0" class="slmlab-index">
{items}
</ol>
<h2>Worked solutions</h2>
<ul class="slmlab-index">
{sols}
</ul>
</main></body></html>
"""


def build_book(repo: Path, out: Path, only: list[str] | None = None) -> Path:
    """Write the website under `out` (index.html, book.css, one page per notebook); `only`
    picks notebooks by stem (the front page then lists just those). Return index.html."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    paths = lessons(repo / "notebooks", solutions=True)
    if only:
        paths = [p for p in paths if p.stem in set(only)]
    n_lessons = sum(p.parent.name != "solutions" for p in paths)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / "book.css").write_text(BOOK_CSS, encoding="utf-8")
    nbs = [nbformat.read(p, as_version=4) for p in paths]
    pages = [(f"{p.stem}.html", _title(nb, p.stem)) for p, nb in zip(paths, nbs, strict=True)]
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"book.html.j2": BOOK_TEMPLATE})],
        template_file="book.html.j2",
        embed_images=True,
    )
    for i, nb in enumerate(nbs):
        resources = {"metadata": {"name": pages[i][1]}, "slmlab_nav": _nav(pages, i)}
        body, _ = exporter.from_notebook_node(book_notebook(nb), resources=resources)
        (out / pages[i][0]).write_text(_local_links(body), encoding="utf-8")
    index = out / "index.html"
    index.write_text(_local_links(_front_page(repo, pages, n_lessons)), encoding="utf-8")
    return index


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slmlab.editions", description=__doc__.split("\n")[0])
    parser.add_argument("edition", choices=("student", "book"))
    parser.add_argument("--repo", type=Path, default=Path("."), help="the repository root")
    parser.add_argument("--out", type=Path, help="default: build/student or build/book")
    parser.add_argument("--only", nargs="*", help="book: just these notebooks (stems)")
    args = parser.parse_args(argv)
    out = args.out or args.repo / "build" / args.edition
    t0 = time.perf_counter()
    if args.edition == "student":
        folder = build_student(args.repo, out)
        n = len(list((folder / "notebooks").glob("*.ipynb")))
        print(
            f"student edition: {folder} ({n} notebooks, no outputs, no solutions) and "
            f"{out / (STUDENT_NAME + '.zip')}, in {time.perf_counter() - t0:.1f} s"
        )
    else:
        index = build_book(args.repo, out, args.only)
        n = len(list(out.glob("*.html"))) - 1
        print(f"book: {index} ({n} pages), in {time.perf_counter() - t0:.1f} s; open it in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
