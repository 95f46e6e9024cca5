"""The course as a website (`make book`, slmlab.editions), opened in the same headless Chromium.

The site in build/book/ ($SLMLAB_BOOK moves it; built here first when it is missing) is served
from a local HTTP server on 127.0.0.1. One test goes from the front page to lesson 04 by its
link and checks that every figure there loaded (naturalWidth > 0). One walks every page the
front page leads to and checks that no local link is broken: each href to a page answers 200,
and each #fragment names an element of its page (as written, or percent-decoded,
as a browser looks it up). One opens lesson 06, checks that the answer
to its prediction is folded and opens on a click, and that a dashboard reads as a line plus its
saved picture. Screenshots of each stage go to build/browser/ (book-*.png).
"""

from __future__ import annotations

import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
CLINIC = "04_val_loss_9_clinic"
ALL_LOADED = """() => Array.from(document.images).every(i => i.complete)"""
IMAGES = """() => Array.from(document.images).map(i => ({src: i.src.slice(0, 40), width: i.naturalWidth}))"""
LINKS = """() => Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"""
IDS = """() => Array.from(document.querySelectorAll('[id]')).map(e => e.id)"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no line per request in the test's output
        pass


@pytest.fixture(scope="module")
def site():
    """The base URL of the built site, served from 127.0.0.1 while the tests run."""
    book = Path(os.environ.get("SLMLAB_BOOK", REPO / "build" / "book"))
    if not (book / "index.html").is_file():
        from slmlab.editions import build_book

        build_book(REPO, book)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _figures(stem: str) -> int:
    """How many pictures the teacher notebook's outputs hold."""
    nb = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_front_page_to_04_and_its_figures(page, site, out_dir):
    page.goto(site + "index.html")
    assert "Why val loss 9?" in page.inner_text("main")
    page.screenshot(path=str(out_dir / "book-front.png"))
    page.click(f'a[href="{CLINIC}.html"]')
    page.wait_for_load_state("load")
    assert page.url.endswith(f"{CLINIC}.html")
    assert "04" in page.inner_text("h1")
    page.wait_for_function(ALL_LOADED, timeout=30_000)
    images = page.evaluate(IMAGES)
    assert len(images) >= _figures(CLINIC) > 0
    broken = [i for i in images if i["width"] == 0]
    assert not broken, f"{len(broken)} of {len(images)} figures did not load: {broken[:3]}"
    page.screenshot(path=str(out_dir / "book-04-top.png"))
    page.locator("img").first.scroll_into_view_if_needed()
    page.screenshot(path=str(out_dir / "book-04-first-figure.png"))


def test_no_local_link_is_broken(page, site):
    seen, ids, targets = set(), {}, []
    queue = [site + "index.html"]
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        ids[url] = set(page.evaluate(IDS))
        for href in page.evaluate(LINKS):
            if urlparse(href).scheme in ("http", "https", "mailto") and not href.startswith(site):
                continue  # the web outside this site is not part of the build
            target, fragment = urldefrag(urljoin(url, href))
            targets.append((url, href, target, fragment))
            if target.endswith(".html") and target not in seen:
                queue.append(target)
    assert len(seen) >= 29  # the front page, 14 lessons, 14 solutions
    # a browser looks the fragment up as written, then percent-decoded (HTML's "indicated part")
    broken = [(u, h) for u, h, t, f in targets if t not in ids or (f and f not in ids[t] and unquote(f) not in ids[t])]
    assert not broken, f"{len(broken)} broken links, e.g. {broken[:5]}"


def test_answers_fold_and_dashboards_are_pictures(page, site, out_dir):
    page.goto(site + "06_dropout.html")
    fold = page.locator("details.slmlab-answer").first
    assert fold.count() == 1 and fold.get_attribute("open") is None
    inside = fold.locator(".jp-OutputArea-output").first
    assert not inside.is_visible()
    fold.scroll_into_view_if_needed()
    page.screenshot(path=str(out_dir / "book-06-answer-folded.png"))
    fold.locator("summary").click()
    assert inside.is_visible()
    page.screenshot(path=str(out_dir / "book-06-answer-open.png"))
    live = page.locator("p.slmlab-live").first
    live.scroll_into_view_if_needed()
    assert "JupyterLab" in live.inner_text()
    assert "VBox(children=" not in page.content()
    page.screenshot(path=str(out_dir / "book-06-dashboard.png"))
