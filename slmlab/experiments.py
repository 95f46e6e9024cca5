"""Run records on disk, cached by config, and sweeps over one hyperparameter.

`run(cfg)` trains once and keeps the run folder (config.json, env.json,
history.jsonl, ckpt.pt, best.pt) under $SLMLAB_RUNS_DIR, named by the preset
and a hash of the config and of the token data it trains on. Asking again
loads it instantly; a run that was interrupted (kernel restart, Stop button)
resumes from its checkpoint. `sweep` runs one field over several values and
seeds, so notebooks can draw isolation plots with seed spread.

Training itself is slmlab.train's; plots and widgets read Runs from here.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config, validate
from .data import cache_dir, prepare
from .device import pick_device, pick_dtype
from .train import History, load_checkpoint, load_model, train

__all__ = ["Run", "run", "sweep", "load_run", "runs_dir", "config_key"]


def runs_dir() -> Path:
    """$SLMLAB_RUNS_DIR, else <cache>/runs."""
    env = os.environ.get("SLMLAB_RUNS_DIR")
    return Path(env).expanduser() if env else cache_dir() / "runs"


@dataclass
class Run:
    """One finished (or stopped) run: its folder, config and history."""

    dir: Path
    config: Config
    history: History
    label: str

    @property
    def complete(self) -> bool:
        """Ran to max_steps or stopped for a reason of its own (early stop, NaN)."""
        return _complete(self.history, self.config)

    def model(self, which: str = "ckpt"):
        """The trained GPT ('ckpt': last weights, 'best': best val)."""
        return load_model(self.dir, which)[0]

    def __repr__(self) -> str:
        best = self.history.best_val()
        best_s = f"best val {best[1]:.3f} at step {best[0]}" if best else "no eval yet"
        return f"Run({self.label!r}, {best_s}, {self.dir.name})"


def _complete(history: History, cfg: Config) -> bool:
    if history.stop_reason in ("early_stop", "nan"):
        return True
    return bool(history.steps) and history.steps[-1]["step"] >= cfg.train.max_steps


def config_key(cfg: Config, data_manifest: dict | None = None) -> str:
    """A short hash of everything that changes the result: the config, the device and dtype
    it resolves to on this machine, and the token files' checksums."""
    d = cfg.to_dict()
    d.pop("name", None)
    kind = pick_device(cfg.train.device)  # what "auto" resolves to here: a bf16 run is not an fp32 one
    d["resolved"] = {"device": kind, "dtype": str(pick_dtype(kind, cfg.train.dtype))}
    d["data_sha"] = {k: v for k, v in (data_manifest or {}).items() if "sha" in k}
    blob = json.dumps(d, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def load_run(path: str | Path, label: str | None = None) -> Run:
    """Read a run folder written by train(out_dir=...)."""
    path = Path(path)
    hist = History.load(path / "history.jsonl")
    cfg = Config.from_dict(hist.config)
    return Run(dir=path, config=cfg, history=hist, label=label or hist.meta.get("label") or cfg.name)


def run(cfg: Config, *, label: str | None = None, callbacks=(), force: bool = False,
        progress: bool = True) -> Run:
    """Train `cfg` once; later calls load the saved run (force=True trains again).

    An unfinished run folder (interrupted, or stopped by hand) is resumed.
    The folder is named by cfg.name and the config's hash; callbacks are taken
    as observers and are not part of the key, so a callback that changes the
    training (a custom schedule, say) needs a config name of its own.
    """
    validate(cfg)
    data = prepare(cfg.data)
    folder = runs_dir() / f"{cfg.name}-{config_key(cfg, data.manifest)}"
    label = label or cfg.name
    if force and folder.exists():
        _remove_run(folder)
    if (folder / "history.jsonl").is_file():
        done = load_run(folder, label)
        if done.complete:
            return done
    resume = folder if (folder / "ckpt.pt").is_file() and _loadable(folder / "ckpt.pt") else None
    if resume is None and folder.exists():
        _remove_run(folder)  # a start that left no usable checkpoint
    hist = train(None if resume else cfg, resume=resume, out_dir=folder, data=data,
                 callbacks=callbacks, progress=progress)
    hist.meta["label"] = label
    hist.save(folder / "history.jsonl")
    return Run(dir=folder, config=Config.from_dict(hist.config), history=hist, label=label)


def _loadable(path: Path) -> bool:
    try:
        load_checkpoint(path)
        return True
    except (ValueError, FileNotFoundError):
        return False


def _remove_run(folder: Path) -> None:
    for name in ("ckpt.pt", "best.pt", "history.jsonl", "config.json", "env.json"):
        (folder / name).unlink(missing_ok=True)


def sweep(cfg: Config, field: str, values: list[Any], *, seeds: tuple[int, ...] | None = None,
          progress: bool = False, **kw) -> list[Run]:
    """Runs of `cfg` with `field` set to each value (and each seed); labels say which."""
    runs = []
    for value in values:
        for seed in seeds or (cfg.train.seed,):
            c = cfg.replace(**{field: value, "seed": seed})
            label = f"{field}={value:g}" if isinstance(value, float) else f"{field}={value}"
            if seeds and len(seeds) > 1:
                label += f" (seed {seed})"
            runs.append(run(c, label=label, progress=progress, **kw))
    return runs
