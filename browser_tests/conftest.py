"""Fixtures for the browser tests: a headless JupyterLab server and a Chromium page.

`lab` starts `jupyter lab` on 127.0.0.1 (a free port, a random token) in a temporary
root folder, with the smoke profile and a temporary runs folder in the kernel's
environment, JupyterLab's news and update checks off, and every cell rendered (no
windowed notebook, so off-screen widgets exist in the page). `page` is a Playwright
page in Debian's Chromium ($SLMLAB_CHROMIUM, else /usr/lib/chromium/chromium or
/usr/bin/chromium): Playwright's own browser downloads are never used. Screenshots go
to $SLMLAB_BROWSER_OUT (default build/browser/). What the tests click is
test_dashboard.py's; `make test-browser` installs all this and runs them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAB_SETTINGS = {  # user settings: no toasts over the widgets, every cell in the DOM
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@dataclass
class Lab:
    url: str
    token: str
    root: Path  # the server's root folder: notebooks the tests open go here
    runs: Path  # $SLMLAB_RUNS_DIR of every kernel it starts
    log: Path

    def open_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium() -> str:
    for path in (os.environ.get("SLMLAB_CHROMIUM"), "/usr/lib/chromium/chromium", "/usr/bin/chromium"):
        if path and Path(path).is_file():
            return path
    pytest.fail(
        "no Chromium: install Debian's (`apt-get install chromium`, as `make test-browser` "
        "does) or set SLMLAB_CHROMIUM to its binary"
    )


def _write_settings(folder: Path) -> None:
    for rel, values in LAB_SETTINGS.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_ready(url: str, token: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            req = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
            if urllib.request.urlopen(req, timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.25)
    why = f"exited with {proc.returncode}" if proc.poll() is not None else f"did not answer in {timeout:.0f} s"
    raise RuntimeError(f"jupyter lab {why}; its log ends:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def out_dir() -> Path:
    out = Path(os.environ.get("SLMLAB_BROWSER_OUT", REPO / "build" / "browser"))
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


@pytest.fixture(scope="session")
def lab(out_dir):
    tmp = Path(tempfile.mkdtemp(prefix="slmlab-browser-"))
    root, runs = tmp / "root", tmp / "runs"
    root.mkdir()
    runs.mkdir()
    _write_settings(tmp / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel draws inline
    env.update(
        SLMLAB_PROFILE="smoke",
        SLMLAB_RUNS_DIR=str(runs),
        SLMLAB_THREADS="1",
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={tmp / 'settings'}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",
        "--ServerApp.allow_root=True",
    ]  # CI runs as root
    log = out_dir / "jupyter-lab.log"
    with open(log, "w") as log_file:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, token, proc, log)
        yield Lab(url=url, token=token, root=root, runs=runs, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()
