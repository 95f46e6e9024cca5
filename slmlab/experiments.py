"""Run records on disk, cached by config; sweeps over one hyperparameter; effects against seed noise.

`run(cfg)` trains once and keeps the run folder (config.json, env.json,
history.jsonl, ckpt.pt, best.pt, callbacks/) under $SLMLAB_RUNS_DIR, named by
the preset and a hash of the config, of the token data it trains on and of the
`cache_tag` of every callback that changes training. Asking again loads it
instantly; a run that was interrupted (kernel restart, Stop button) resumes from
its checkpoint. One process trains a folder at a time: a second kernel asking for
the same run waits for it (slmlab.runfolder's lock), then loads it. Callbacks
follow the contract in slmlab.callbacks: observers are not replayed, recorders
get their data back from callbacks/<record_name>.json, and a callback that
changes training without a cache_tag is refused.

`run_all(cfgs)` trains several runs at once, each in a process of its own (slmlab.pool), and
returns them as `run` does. `sweep` runs one field over several values and seeds (`with_seed` picks one seed's
runs back out, for a plot); `effect(runs, field)`
gives the mean of a metric per value, the seed spread and a verdict, so a
notebook can say whether a difference is larger than the noise.

Training itself is slmlab.train's; plots and widgets read Runs from here.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import files, runfolder
from .checkpoint import load_checkpoint, load_model
from .config import Config, ConfigError, validate
from .data import prepare
from .device import default_workers, pick_device, pick_dtype
from .history import ENDED_ON_ITS_OWN, History, best_text, run_label
from .history import metric as metric_of
from .paths import runs_dir
from .pool import TaskFailed, in_processes
from .train import train

__all__ = [
    "Run",
    "run",
    "run_all",
    "RunFailed",
    "sweep",
    "with_seed",
    "load_run",
    "config_key",
    "KEY_VERSION",
    "Effect",
    "effect",
]


@dataclass
class Run:
    """One finished (or stopped) run: its folder, config and history."""

    dir: Path
    config: Config
    history: History
    label: str

    @property
    def complete(self) -> bool:
        """Ran to max_steps or ended for a reason of its own (early stop, NaN, time limit, health check)."""
        return _complete(self.history, self.config)

    def model(self, which: str = "ckpt"):
        """The trained GPT ('ckpt': last weights, 'best': best val)."""
        return load_model(self.dir, which)[0]

    def __repr__(self) -> str:
        return f"Run({self.label!r}, {best_text(self.history)}, {self.dir.name})"


def _complete(history: History, cfg: Config) -> bool:
    if history.stop_reason in ENDED_ON_ITS_OWN:
        return True
    return bool(history.steps) and history.steps[-1]["step"] >= cfg.train.max_steps


KEY_VERSION = 1  # bump to retire every cached run on purpose; then list all fields in _KEYED_FIELDS

# The config's fields when KEY_VERSION was last set: in the key at any value.
_KEYED_FIELDS = frozenset(
    {
        "n_layer",
        "n_head",
        "n_embd",
        "block_size",
        "vocab_size",
        "dropout",
        "bias",
        "corpus",
        "tokenizer",
        "data_fraction",
        "val_fraction",
        "corpus_bytes",
        "data_seed",
        "lr",
        "min_lr",
        "warmup_steps",
        "max_steps",
        "micro_batch_size",
        "grad_accum_steps",
        "eval_interval",
        "eval_batches",
        "weight_decay",
        "beta1",
        "beta2",
        "grad_clip",
        "early_stop_patience",
        "seed",
        "dtype",
        "compile",
        "device",
        "log_interval",
    }
)


def config_key(cfg: Config, data_manifest: dict | None = None, tags: Sequence[str] = ()) -> str:
    """A short hash of everything that changes the result: the config (its name aside), the
    device and dtype it resolves to on this machine, the token files' checksums and the
    training-changing callbacks' cache tags.

    Stable as the config grows, with nothing to remember: a field added after KEY_VERSION was
    set enters the key only when it differs from its default, so a new field with a default
    leaves every cached run's key as it was, and setting it to anything else makes a new run.
    The fields of _KEYED_FIELDS enter at any value, so changing one of their defaults changes
    the key of the runs that relied on it. (Changing the default of a later field would let a
    run cached at the old default pass for the new one: bump KEY_VERSION then; a test pins
    those defaults.) Not hashing source code or file paths, the key is the same on every
    machine of one device and dtype."""
    d = _key_dict(cfg.to_dict(), Config().flat())
    if KEY_VERSION > 1:  # version 1 is the key of the runs cached before it had a number
        d["key_version"] = KEY_VERSION
    kind = pick_device(cfg.train.device)  # what "auto" resolves to here: a bf16 run is not an fp32 one
    d["resolved"] = {"device": kind, "dtype": str(pick_dtype(kind, cfg.train.dtype))}
    d["data_sha"] = {k: v for k, v in (data_manifest or {}).items() if "sha" in k}
    if tags:
        d["callbacks"] = sorted(tags)
    blob = json.dumps(d, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _key_dict(config: dict, defaults: dict) -> dict:
    """The config's parts, each without the later fields that hold their default."""
    return {
        part: {k: v for k, v in values.items() if k in _KEYED_FIELDS or v != defaults[k]}
        for part, values in config.items()
        if part != "name"
    }


def load_run(path: str | Path, label: str | None = None) -> Run:
    """Read a run folder written by train(out_dir=...)."""
    path = Path(path)
    hist = History.load(path / runfolder.HISTORY)
    cfg = Config.from_dict(hist.config)
    return Run(dir=path, config=cfg, history=hist, label=label or hist.label)


# ---------------------------------------------------------------------------
# Cached runs and their callbacks


def _check_callbacks(callbacks: Sequence) -> None:
    for cb in callbacks:
        name = type(cb).__name__
        if getattr(cb, "changes_training", False) and not getattr(cb, "cache_tag", None):
            raise ConfigError(
                f"callback {name} changes training but has no cache_tag, so a cached run "
                f"could be the wrong one; give it cache_tag = '<what it changes>' "
                f"(e.g. 'decay-everything'), or call slmlab.train.train instead"
            )
        if getattr(cb, "record_name", None) and getattr(cb, "changes_training", False):
            raise ConfigError(f"callback {name} both records and changes training; split it in two")


def _record_file(folder: Path, cb) -> Path:
    return runfolder.record_file(folder, cb.record_name)


def run(cfg: Config, *, label: str | None = None, callbacks=(), force: bool = False, progress: bool = True) -> Run:
    """Train `cfg` once; later calls load the saved run (force=True trains again).

    An unfinished run folder (interrupted, or stopped by hand) is resumed, unless a
    recorder must see it from the first step. While another process trains the same
    run, this one says so in one line, waits, then loads it. Callbacks: see the module
    docstring.
    """
    validate(cfg)
    _check_callbacks(callbacks)
    data = prepare(cfg.data)
    folder = _folder(cfg, data, callbacks)
    label = label or cfg.name
    with runfolder.lock(folder, wait=True):  # another process trains it: wait, then load what it trained
        return _train_or_load(cfg, folder, label, data, callbacks, force, progress)


def _folder(cfg: Config, data, callbacks) -> Path:
    """The run folder of `cfg` trained on `data` with `callbacks`."""
    tags = [cb.cache_tag for cb in callbacks if getattr(cb, "changes_training", False)]
    return runs_dir() / f"{cfg.name}-{config_key(cfg, data.manifest, tags)}"


def _train_or_load(cfg: Config, folder: Path, label: str, data, callbacks, force: bool, progress: bool) -> Run:
    """run()'s work, with the folder's lock held."""
    recorders = [cb for cb in callbacks if getattr(cb, "record_name", None)]
    if force and folder.exists():
        runfolder.remove(folder)
    if (folder / runfolder.HISTORY).is_file():
        done = load_run(folder, label)
        missing = [cb for cb in recorders if not _record_file(folder, cb).is_file()]
        if done.complete and not missing:
            for cb in recorders:
                cb.restore(files.read_json(_record_file(folder, cb)))
            return done
        if recorders:  # a recorder must see every step: train from the start, not resume
            names = ", ".join(cb.record_name for cb in missing or recorders)
            why = f"holds no {names} record" if done.complete else f"is unfinished, and {names} must see every step"
            print(f"{folder.name} {why}: training it again from the start to record it")
            runfolder.remove(folder, records=not done.complete)  # a finished run's other records still hold
    ckpt = folder / runfolder.CKPT
    resume = folder if ckpt.is_file() and _loadable(ckpt) else None
    if resume is None and folder.exists():
        runfolder.remove(folder, records=False)  # a start that left no usable checkpoint (and so no records)
    hist = train(
        None if resume else cfg,
        resume=resume,
        out_dir=folder,
        data=data,
        callbacks=callbacks,
        progress=progress,
        label=label,
    )
    for cb in recorders:
        files.write_json(_record_file(folder, cb), cb.recorded())
    return Run(dir=folder, config=Config.from_dict(hist.config), history=hist, label=label)


def run_all(
    cfgs: Sequence[Config],
    *,
    labels: Sequence[str | None] | None = None,
    callbacks: Sequence[Sequence] | None = None,
    workers: int | None = None,
    **run_kw,
) -> list[Run]:
    """Train (or load) every config of `cfgs`, several at once; returns their Runs in order, each
    as `run(cfg, label=..., callbacks=..., **run_kw)` returns it.

    labels, callbacks: one per config (a label; a list of callbacks), or None. workers: how many
    runs train at once, each in its own process with one torch thread (slmlab.pool): a tiny model
    uses a second thread poorly. None: on a CPU, one process per core this process may use
    (slmlab.device.default_workers; SLMLAB_THREADS=1 means one), at most one per run to
    train; on a GPU, 1. workers=1 trains them here, one after another. The processes put each run
    in the runs cache (two never train one folder: slmlab.runfolder's lock), then this process
    loads them, its callbacks' records included; a run's result does not depend on the process
    that trained it, except the last bits of float32 sums (1 thread sums in another order than 2).
    From a script, call this under `if __name__ == "__main__":` (the processes are spawned). A run
    that fails raises RunFailed naming it in one line."""
    cfgs = list(cfgs)
    labels = [None] * len(cfgs) if labels is None else list(labels)
    callbacks = [[] for _ in cfgs] if callbacks is None else [list(cbs) for cbs in callbacks]
    if not len(labels) == len(callbacks) == len(cfgs):
        raise ConfigError(f"run_all: {len(cfgs)} configs, {len(labels)} labels, {len(callbacks)} callback lists")
    for cfg, cbs in zip(cfgs, callbacks):  # a bad config fails here, before any process starts
        validate(cfg)
        _check_callbacks(cbs)
    if workers is None:
        workers = default_workers(pick_device(c.train.device) for c in cfgs)
    todo = [] if workers < 2 else [i for i, c in enumerate(cfgs) if run_kw.get("force") or not _cached(c, callbacks[i])]
    workers = min(workers, len(todo))
    if workers > 1:  # else: all here, one after another
        tasks = [(cfgs[i], labels[i], callbacks[i]) for i in todo]
        names = [f"run {i + 1} of {len(cfgs)} ({_name(cfgs[i], labels[i])})" for i in todo]
        work = functools.partial(_run_in_process, {**run_kw, "progress": False})
        in_processes(work, tasks, workers=workers, names=names, kind="run", error=RunFailed)
        run_kw = {**run_kw, "force": False}  # trained just now: load them
    return [run(c, label=label, callbacks=cbs, **run_kw) for c, label, cbs in zip(cfgs, labels, callbacks)]


class RunFailed(TaskFailed):
    """A run of run_all failed in its process; the message names the run and the error."""


def _name(cfg: Config, label: str | None) -> str:
    return cfg.name if label in (None, cfg.name) else f"{label}, {cfg.name}"


def _cached(cfg: Config, callbacks) -> bool:
    """Is `cfg` a finished run in the cache, with its recorders' records? (Nothing to train.)"""
    folder = _folder(cfg, prepare(cfg.data), callbacks)  # prepare: the token files, once, before any process
    if not (folder / runfolder.HISTORY).is_file():
        return False
    recorders = [cb for cb in callbacks if getattr(cb, "record_name", None)]
    return load_run(folder).complete and all(_record_file(folder, cb).is_file() for cb in recorders)


def _run_in_process(run_kw: dict, task: tuple) -> None:
    """One run, in a run process (slmlab.pool's): into the runs cache, for the parent to load."""
    cfg, label, callbacks = task
    run(cfg, label=label, callbacks=callbacks, **run_kw)


def _loadable(path: Path) -> bool:
    try:
        load_checkpoint(path)
        return True
    except (ValueError, FileNotFoundError):
        return False


def sweep(
    cfg: Config, field: str, values: list[Any], *, seeds: tuple[int, ...] | None = None, progress: bool = False, **kw
) -> list[Run]:
    """Runs of `cfg` with `field` set to each value (and each seed); labels say which."""
    runs = []
    for value in values:
        for seed in seeds or (cfg.train.seed,):
            c = cfg.replace(**{field: value, "seed": seed})
            label = run_label({field: value}) + (f" (seed {seed})" if seeds and len(seeds) > 1 else "")
            runs.append(run(c, label=label, progress=progress, **kw))
    return runs


def with_seed(runs: Sequence[Run], seed: int, *, by: str | None = None) -> list[Run]:
    """The runs trained with `seed` (one seed of a sweep's `seeds`), in their order, or sorted
    by config field `by` (e.g. "dropout"): one curve per setting, for a plot."""
    picked = [r for r in runs if r.config.train.seed == seed]
    return sorted(picked, key=lambda r: r.config.get(by)) if by else picked


# ---------------------------------------------------------------------------
# Effects: is a difference between settings larger than the seed noise?


@dataclass
class Effect:
    """One metric of runs grouped by the value of one config field (lower is better).

    by_value: value -> the metric of every run with that value (one per seed).
    spread: the largest max - min among the runs that share a value: how far
    seeds alone move the metric. A difference counts when it is larger than
    k times the spread (k=2 by default).
    """

    field: str
    metric: str
    by_value: dict[Any, np.ndarray]

    @property
    def values(self) -> list:
        return list(self.by_value)

    @property
    def spread(self) -> float:
        return max((float(np.ptp(v)) for v in self.by_value.values() if len(v) > 1), default=0.0)

    def mean(self, value: Any) -> float:
        if value not in self.by_value:
            raise KeyError(f"no run with {self.field}={value!r}; values: {', '.join(map(str, self.by_value))}")
        return float(np.mean(self.by_value[value]))

    def diff(self, a: Any, b: Any) -> float:
        """mean(a) - mean(b): > 0 when a's metric is higher (worse, for a loss)."""
        return self.mean(a) - self.mean(b)

    def best(self, among: Sequence | None = None) -> Any:
        """The value (of `among`, default all) with the lowest mean."""
        return min(among if among is not None else self.values, key=self.mean)

    def clear(self, a: Any, b: Any, k: float = 2.0, spread: float | None = None) -> bool:
        """Is |mean(a) - mean(b)| more than k x the seed spread (this one's, or a given one)?"""
        return abs(self.diff(a, b)) > k * (self.spread if spread is None else spread)

    def verdict(self, a: Any, b: Any, k: float = 2.0, spread: float | None = None) -> str:
        """'better' / 'worse' (a against b, lower is better) or 'no different (within 2x the seed spread)'."""
        if not self.clear(a, b, k, spread):
            return f"no different (within {k:g}x the seed spread)"
        return "better" if self.diff(a, b) < 0 else "worse"

    def __str__(self) -> str:
        rows = [
            f"{self.field}={v!s:<8} {self.metric} {self.mean(v):.3f} over {len(x)} run(s)"
            + (f", range {np.ptp(x):.3f}" if len(x) > 1 else "")
            for v, x in self.by_value.items()
        ]
        return "\n".join(rows + [f"largest seed spread: {self.spread:.3f}"])


def effect(runs: Sequence[Run], field: str, metric: str | Callable = "best_val") -> Effect:
    """Group runs by config `field` and measure each by `metric` (see slmlab.history.metric:
    best_val, final_val, final_train, gap, any eval field's last value, or a callable)."""
    groups: dict[Any, list[float]] = {}
    for r in runs:
        groups.setdefault(r.config.get(field), []).append(metric_of(r.history, metric))
    keys = sorted(groups) if all(isinstance(k, (int, float)) for k in groups) else list(groups)
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    return Effect(field, name, {k: np.array(groups[k], dtype=float) for k in keys})
