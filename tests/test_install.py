"""The install, everywhere the course says it runs: the dependency lists agree (pyproject.toml,
environment.yml, constraints.txt, the setup check), the torch floor covers the code's
version-gated calls, `make setup` chooses where torch comes from (the choosing is tested, never
the download), every module imports where POSIX-only modules are missing (Windows), and a token
folder Windows will not move is one clear line."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slmlab import course

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def _list(name: str) -> list[str]:
    """A list of requirement strings from pyproject.toml: `dependencies`, or an extra's."""
    if name == "dependencies":
        body = re.search(r"^dependencies = \[(.*?)^\]", PYPROJECT, re.S | re.M).group(1)
    else:
        body = re.search(rf"^{name} = \[(.*?)\]", PYPROJECT, re.S | re.M).group(1)
    return re.findall(r'"([^"]+)"', re.sub(r"#.*", "", body))


def _split(req: str) -> tuple[str, str]:
    """'torch>=2.4,<3' -> ('torch', '<3,>=2.4'): the name and its bounds in a fixed order."""
    name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", req).groups()
    return name.lower().replace("_", "-"), ",".join(sorted(s.strip() for s in spec.split(",") if s.strip()))


def _env_yml() -> tuple[dict, str]:
    deps, python = {}, None
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    for line in text[text.index("\ndependencies:") :].splitlines():
        m = re.match(r"^\s+- ([^:#]+?)\s*$", line)
        if not m or m.group(1) in ("pip", "-e ."):
            continue
        name, spec = _split(m.group(1))
        if name == "python":
            python = spec
        else:
            deps[name] = spec
    return deps, python


def test_environment_yml_holds_pyproject_s_dependencies_and_extras_with_the_same_bounds():
    want = dict(_split(r) for r in _list("dependencies") + _list("lab") + _list("dev"))
    deps, python = _env_yml()
    assert deps == want
    assert python == re.search(r'requires-python = "(.*)"', PYPROJECT).group(1)  # no upper bound
    assert "pytorch channel" not in (ROOT / "environment.yml").read_text()


def test_jupyter_is_an_extra_so_colab_gets_no_second_one():
    names = {_split(r)[0] for r in _list("dependencies")}
    assert "jupyterlab" not in names and "jupyterlab" in {_split(r)[0] for r in _list("lab")}
    assert "huggingface-hub" not in names  # one URL builder, written in corpora._hub_url
    assert "pandas" in names  # notebook 12: study.trials_dataframe()
    assert "trials_dataframe" in (ROOT / "notebooks" / "12_hyperparameter_search.py").read_text()


def test_the_setup_check_reads_the_package_metadata_or_pyproject(monkeypatch):
    names = [_split(r)[0].replace("-", "_") for r in _list("dependencies")]
    assert course.dependencies() == names
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "requires", missing)  # a source tree never installed
    assert course.dependencies() == names


# The torch floor: each version-gated call the code makes, where it is, and the torch it needs.
GATED = [
    ("slmlab/device.py", "torch.amp.GradScaler(", (2, 3)),  # device-generic GradScaler
    ("slmlab/train.py", "torch.optim.AdamW(groups, fused=True", (2, 4)),  # the fused CPU kernel
    ("slmlab/distributed.py", "init_process_group).parameters", (2, 3)),  # device_id=, probed
    ("slmlab/checkpoint.py", "weights_only=True", (1, 13)),
]


def _floor(spec: str) -> tuple[int, int]:
    return tuple(int(x) for x in re.search(r">=(\d+)\.(\d+)", spec).groups())


def test_the_torch_floor_covers_every_version_gated_call():
    floor = _floor(_split(next(r for r in _list("dependencies") if r.startswith("torch")))[1])
    for path, call, needs in GATED:
        assert call in (ROOT / path).read_text(encoding="utf-8"), f"{path} no longer calls {call}: update GATED"
        assert needs <= floor, f"{path} calls {call} (torch {needs}), above the floor {floor}"
    said = [
        (p.name, tuple(map(int, m)))
        for p in (ROOT / "slmlab").rglob("*.py")
        for m in re.findall(r"torch >= ?(\d+)\.(\d+)", p.read_text(encoding="utf-8"))
    ]
    assert said and all(v <= floor for _, v in said), f"the code names torch versions above {floor}: {said}"
    deps, _ = _env_yml()
    assert _floor(deps["torch"]) == floor


def test_constraints_pin_every_requirement_within_pyproject_s_bounds():
    specifiers = pytest.importorskip("packaging.specifiers")
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            m = re.match(r"([A-Za-z0-9_.-]+)==([^ ;]+) ; python_version == \"3\.\d+\"$", line)
            assert m, f"constraints.txt: {line!r} is not `name==version ; python_version == ...`"
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    assert not {n for n in pins if n in ("torch", "slmlab") or n.startswith("nvidia-")}  # TORCH pins torch
    for req in _list("dependencies") + _list("lab") + _list("dev"):
        name, spec = _split(req)
        if name == "torch":
            continue
        assert name in pins, f"constraints.txt has no pin for {name} (run `make constraints`)"
        assert pins[name] in specifiers.SpecifierSet(spec), f"{name}=={pins[name]} is outside {spec}"


# make setup: where torch comes from. `make -n -B` prints the commands and runs none.
def _setup_commands(tmp_path, **variables) -> str:
    if shutil.which("make") is None:
        pytest.skip("no make here")
    args = [f"{k}={v}" for k, v in {"VENV": str(tmp_path / "venv"), **variables}.items()]
    r = subprocess.run(["make", "-n", "-B", "setup", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_make_setup_takes_torch_from_pypi_only_by_default(tmp_path):
    out = _setup_commands(tmp_path, NVIDIA_DRIVER="yes")
    assert "download.pytorch.org" not in out and "--index-url" not in out and "note:" not in out
    assert '-m pip install --quiet -c constraints.txt -e ".[dev,lab]" "torch==2.13.0"' in out


@pytest.mark.parametrize(
    "index, url",
    [
        ("cpu", "https://download.pytorch.org/whl/cpu"),
        ("cu126", "https://download.pytorch.org/whl/cu126"),
        ("https://mirror.example/torch", "https://mirror.example/torch"),
    ],
)
def test_torch_index_chooses_pytorch_s_wheel_index_for_torch_only(tmp_path, index, url):
    out = _setup_commands(tmp_path, TORCH_INDEX=index)
    lines = [line for line in out.splitlines() if "--index-url" in line]
    assert lines == [f'{tmp_path}/venv/bin/python -m pip install --quiet "torch==2.13.0" --index-url {url}']
    assert "note:" not in out


def test_linux_without_an_nvidia_driver_says_in_one_line_how_to_skip_the_cuda_download(tmp_path):
    if sys.platform != "linux":
        pytest.skip("the note is for Linux")
    notes = [line for line in _setup_commands(tmp_path, NVIDIA_DRIVER="").splitlines() if "note:" in line]
    assert len(notes) == 1 and "make setup TORCH_INDEX=cpu" in notes[0]


# Windows: the modules a POSIX system has and Windows lacks are blocked, and every module imports.
POSIX_ONLY = ("resource", "fcntl", "termios", "pwd", "grp", "pty", "tty", "syslog", "crypt")


def test_every_module_imports_without_posix_only_modules(tmp_path):
    site = tmp_path / "block"
    site.mkdir()
    (site / "sitecustomize.py").write_text(f"import sys\nsys.modules.update(dict.fromkeys({POSIX_ONLY!r}))\n")
    code = (
        "import importlib, pkgutil, slmlab\n"
        "names = [m.name for m in pkgutil.walk_packages(slmlab.__path__, 'slmlab.') if m.name != 'slmlab.__main__']\n"
        "for n in names: importlib.import_module(n)\n"
        "import resource\n"
    )  # the block holds: this last import must fail
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "ModuleNotFoundError: import of resource halted" in r.stderr, r.stderr[-2000:]
    assert r.stderr.count("Traceback") == 1 and "line 4" in r.stderr


def test_a_token_folder_windows_will_not_move_is_one_clear_line(tmp_path, monkeypatch):
    from slmlab import data

    folder, tmp = tmp_path / "tokens", tmp_path / ".tokens.tmp"
    folder.mkdir()
    tmp.mkdir()

    def refuse(src, dst):
        raise PermissionError(13, "The process cannot access the file because it is being used by another process")

    monkeypatch.setattr(data.os, "replace", refuse)
    with pytest.raises(
        RuntimeError,
        match=r"cannot rebuild the token folder .*tokens: a file in it is open .*"
        r"restart it",
    ):
        data._move_into_place(tmp, folder, replace_old=True)
    assert folder.exists()  # nothing half-moved
