"""Hyperparameter search with Optuna, one call per study, every trial a cached slmlab run.

`search(cfg, space, sampler="tpe", n_trials=12)` runs a study whose trials are
`experiments.run(cfg.replace(**params))`: a trial that asks for a config already
trained loads it from the run cache, and every trial reports its val loss at each
eval so a `MedianPruner` can stop a bad one early. The study is stored in the runs
folder (an Optuna JournalStorage file, studies/<name>.log) and opened with
`load_if_exists`, so running the cell again resumes it: finished trials count
towards `n_trials`, and a trial that was interrupted (kernel restart) is asked
again with the same parameters, whose run folder then resumes from its checkpoint.

`search_many(cfg, space, [(sampler, seed), ...])` runs several studies side by side, each in
its own spawned process with one torch thread (a tiny model uses a second thread poorly), and
returns them as `search` does; the studies' journal files are separate, and a run folder two
studies ask for is trained by one process while the other waits (slmlab.runfolder's lock).

A pruned trial's run stops "by hand" (history stop reason `stopped`): its folder is
unfinished, so a later call for the same config without pruning trains it on from
where it stopped instead of from scratch.

A trial that sets lr and not min_lr keeps the base config's min_lr / lr ratio (a
cosine to a tenth of the peak stays a tenth). The search space is a dict of flat config
field names to `LogUniform`, `Uniform`, `IntRange` or `Choice`; `GridSampler` needs a finite
grid, which `grid(space, k)`
makes: the centres of k equal bins of each range (on a log scale for LogUniform), so
a coarse grid never spends its trials on a range's two extremes. Optuna stays visible: the
study returned is Optuna's own, for its plots (`plot` hides their experimental
warnings) and `study.trials_dataframe()`. What this module leaves to others: the
training (slmlab.train), the run cache (slmlab.experiments), the processes (slmlab.pool).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .callbacks import Callback
from .config import Config, ConfigError
from .data import prepare
from .device import default_workers, pick_device
from .experiments import Run, config_key
from .experiments import run as run_cached
from .history import STOPPED
from .paths import runs_dir
from .pool import TaskFailed, in_processes

__all__ = [
    "LogUniform",
    "Uniform",
    "IntRange",
    "Choice",
    "grid",
    "search",
    "search_many",
    "StudyFailed",
    "objective",
    "trial_config",
    "updates_trained",
    "plot",
    "study_name_for",
    "SAMPLERS",
]

SAMPLERS = ("grid", "random", "tpe")


def _optuna():
    try:
        import optuna
    except ImportError as e:  # pragma: no cover - optuna is a dependency
        raise ImportError("slmlab.search needs optuna: pip install 'optuna>=4.2'") from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no INFO line per trial in outputs
    return optuna


# ---------------------------------------------------------------------------
# The search space


@dataclass(frozen=True)
class LogUniform:
    """A float drawn on a log scale between low and high (learning rates, weight decay)."""

    low: float
    high: float

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=True)

    def points(self, k: int) -> list[float]:
        """The centres of k equal bins on the log scale: never the range's two extremes."""
        r = math.log(self.high / self.low)
        return [float(f"{self.low * math.exp(r * (i + 0.5) / k):.3g}") for i in range(k)]


@dataclass(frozen=True)
class Uniform:
    """A float drawn evenly between low and high (dropout)."""

    low: float
    high: float

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high)

    def points(self, k: int) -> list[float]:
        """The centres of k equal bins."""
        return [round(self.low + (self.high - self.low) * (i + 0.5) / k, 6) for i in range(k)]


@dataclass(frozen=True)
class IntRange:
    """An integer from low to high in steps of `step` (warmup steps)."""

    low: int
    high: int
    step: int = 1

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step)

    def points(self, k: int) -> list[int]:
        values = list(range(self.low, self.high + 1, self.step))
        if k >= len(values):
            return values
        return sorted({values[round(i * (len(values) - 1) / max(1, k - 1))] for i in range(k)})


@dataclass(frozen=True)
class Choice:
    """One of a few values (batch sizes)."""

    values: tuple

    def __init__(self, values: Sequence):
        object.__setattr__(self, "values", tuple(values))

    def suggest(self, trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))

    def points(self, k: int) -> list:
        return list(self.values)


Dimension = LogUniform | Uniform | IntRange | Choice


def grid(space: Mapping[str, Dimension], k: int = 3) -> dict[str, list]:
    """A finite grid for GridSampler: k bin centres per float range, k evenly spaced values of
    an IntRange (its ends included), every value of a Choice."""
    return {name: dim.points(k) for name, dim in space.items()}


def _check_space(cfg: Config, space: Mapping[str, Any]) -> None:
    if not space:
        raise ConfigError("the search space is empty; give at least one field, e.g. {'lr': LogUniform(1e-4, 1e-2)}")
    for name, dim in space.items():
        if not isinstance(dim, LogUniform | Uniform | IntRange | Choice):
            raise ConfigError(
                f"search space {name!r}: {dim!r} is not a range; use LogUniform, Uniform, IntRange or Choice"
            )
        try:
            cfg.get(name)
        except (KeyError, AttributeError, ConfigError):
            raise ConfigError(
                f"search space names {name!r}, which is not a config field; use a flat "
                f"field name such as lr, warmup_steps, weight_decay, dropout"
            ) from None


# ---------------------------------------------------------------------------
# One trial: a cached run that reports every eval


class _ReportToTrial(Callback):
    """An observer: reports each eval's val loss to the trial and stops the run when pruned.

    It changes no step it lets run, so it is not part of the cache key; a run it
    stops is left unfinished (stop reason `stopped`) and resumable.
    """

    def __init__(self, trial):
        self.trial = trial
        self.pruned_at: int | None = None
        self._reported: set[int] = set()

    def on_train_start(self, trainer) -> None:  # a resumed run: the evals it already has
        for e in trainer.history.evals:
            if self._report(e["step"], e["val_loss"]):
                trainer.request_stop(STOPPED)
                return

    def on_eval(self, trainer, record: dict) -> None:
        if self.pruned_at is None and self._report(record["step"], record["val_loss"]):
            trainer.request_stop(STOPPED)

    def _report(self, step: int, val: float) -> bool:
        """Report one eval (once per step); True when the pruner says stop."""
        if step in self._reported:
            return False
        self._reported.add(step)
        self.trial.report(float(val), step)
        if self.trial.should_prune():
            self.pruned_at = step
            return True
        return False


def updates_trained(r: Run) -> int:
    """How many optimizer updates a run's history holds (its trained length)."""
    return r.history.steps[-1]["step"] if r.history.steps else 0


def objective(cfg: Config, space: Mapping[str, Dimension], *, progress: bool = False):
    """The Optuna objective for `space` over `cfg`: best val of the trial's cached run."""
    optuna = _optuna()

    def trial_fn(trial) -> float:
        params = {name: dim.suggest(trial, name) for name, dim in space.items()}
        reporter = _ReportToTrial(trial)
        r = run_cached(trial_config(cfg, params), label=_label(params), callbacks=[reporter], progress=progress)
        trial.set_user_attr("run_dir", r.dir.name)
        if reporter.pruned_at is None:  # a cached run: its callback saw nothing, so replay its evals
            for e in r.history.evals:
                if reporter._report(e["step"], e["val_loss"]):
                    break
        # what the trial cost: a pruned one its updates up to the prune, also when its cached run
        # is longer (trained on to the end by someone else), so the saving does not hang on the cache
        trial.set_user_attr("updates", reporter.pruned_at or updates_trained(r))
        if reporter.pruned_at is not None:
            trial.set_user_attr("pruned_at", reporter.pruned_at)
            raise optuna.TrialPruned()
        return min(e["val_loss"] for e in r.history.evals)

    return trial_fn


def trial_config(cfg: Config, params: Mapping[str, Any]) -> Config:
    """`cfg` with a trial's params; min_lr keeps its ratio to lr unless the space sets it."""
    changes = dict(params)
    if "lr" in changes and "min_lr" not in changes:
        changes["min_lr"] = changes["lr"] * cfg.train.min_lr / cfg.train.lr
    return cfg.replace(**changes)


def _label(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


# ---------------------------------------------------------------------------
# A study: stored in the runs folder, resumed on a second call


def _sampler(optuna, name: str, space: Mapping[str, Dimension], seed: int, grid_points: int, startup_trials: int):
    if name == "grid":
        return optuna.samplers.GridSampler(grid(space, grid_points), seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials)  # "tpe": search() checked the name


def study_name_for(cfg: Config, space: Mapping[str, Dimension], sampler: str, seed: int, grid_points: int = 3) -> str:
    """A study's default name: the sampler, its seed and a hash of the config and the space,
    so that another profile, config or space never resumes (or pollutes) this study."""
    what = json.dumps(
        {
            "config": config_key(cfg),
            "space": {k: repr(v) for k, v in space.items()},
            "grid": grid(space, grid_points) if sampler == "grid" else None,
        },
        sort_keys=True,
    )
    return f"{cfg.name}-{sampler}-seed{seed}-{hashlib.sha256(what.encode()).hexdigest()[:8]}"


def _storage(optuna, name: str):
    folder = runs_dir() / "studies"
    folder.mkdir(parents=True, exist_ok=True)
    backend = optuna.storages.journal.JournalFileBackend(str(folder / f"{name}.log"))
    return optuna.storages.JournalStorage(backend)


def _retry_interrupted(optuna, study) -> None:
    """A RUNNING trial in a stored study is one a dead kernel left: fail it, ask its params again."""
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for t in running:
        study._storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(t.params, skip_if_exists=False)


def _check_search(cfg: Config, space: Mapping[str, Any], sampler: str, n_trials: int) -> None:
    _check_space(cfg, space)
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler {sampler!r} is unknown; use one of {', '.join(SAMPLERS)}")
    if n_trials < 1:
        raise ConfigError(f"n_trials={n_trials}: use at least 1")


def search(
    cfg: Config,
    space: Mapping[str, Dimension],
    *,
    sampler: str = "tpe",
    n_trials: int = 12,
    seed: int = 0,
    prune: bool = True,
    study_name: str | None = None,
    grid_points: int = 3,
    startup_trials: int = 3,
    pruner_warmup_steps: int | None = None,
    enqueue: Sequence[Mapping[str, Any]] = (),
    progress: bool = False,
):
    """Run (or resume) an Optuna study over `space`; returns the optuna Study.

    n_trials counts finished trials (complete or pruned) in the stored study, so a
    second call with the same name runs only what is missing (the default name is
    `study_name_for`: one study per config, space, sampler and seed). startup_trials:
    TPE's random trials before it models, and the finished trials the MedianPruner waits
    for; prune: MedianPruner, after the first quarter of the updates by default.
    enqueue: params to try first (e.g. the recipe you start from), once per study.
    """
    optuna = _optuna()
    _check_search(cfg, space, sampler, n_trials)
    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=startup_trials,
            n_warmup_steps=cfg.train.max_steps // 4 if pruner_warmup_steps is None else pruner_warmup_steps,
        )
        if prune
        else optuna.pruners.NopPruner()
    )
    name = study_name or study_name_for(cfg, space, sampler, seed, grid_points)
    study = optuna.create_study(
        study_name=name,
        storage=_storage(optuna, name),
        direction="minimize",
        sampler=_sampler(optuna, sampler, space, seed, grid_points, startup_trials),
        pruner=pruner,
        load_if_exists=True,
    )
    _retry_interrupted(optuna, study)
    for params in enqueue:
        study.enqueue_trial(dict(params), skip_if_exists=True)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    left = n_trials - len(study.get_trials(deepcopy=False, states=finished))
    if left > 0:
        study.optimize(objective(cfg, space, progress=progress), n_trials=left)
    return study


# ---------------------------------------------------------------------------
# Many studies: two (or more) at a time, each in its own 1-thread process


class StudyFailed(TaskFailed):
    """A study of search_many failed in its process; the message names the study and the error."""


def search_many(
    cfg: Config,
    space: Mapping[str, Dimension],
    studies: Sequence[tuple[str, int]],
    *,
    workers: int | None = None,
    n_trials: int = 12,
    **kw,
) -> dict[tuple[str, int], Any]:
    """Run (or resume) one study per (sampler, seed) in `studies`; returns {(sampler, seed): Study},
    in the order given, each as `search(cfg, space, sampler=..., seed=..., n_trials=..., **kw)`
    returns it.

    workers: how many studies run at once, each in its own process with one torch thread
    (SLMLAB_THREADS=1): a tiny model uses a second thread poorly, so two 1-thread studies on two
    cores finish sooner than two 2-thread ones in a row. None: on a CPU, one process per core
    this process may use (slmlab.device.default_workers; SLMLAB_THREADS=1 means one), at most
    one per study; on a GPU, 1. workers=1 runs them here, one after another. A study's result
    does not depend on the process that ran it, except the last bits of float32 sums (1 thread
    sums in another order than 2). One line per finished study: sampler, seed, best val, seconds.
    The processes are started with 'spawn' (Jupyter, macOS, Windows): from a script, call this
    under `if __name__ == "__main__":`. A study that fails raises StudyFailed naming it; an
    interrupt (Ctrl-C, the kernel's stop button) ends every process it started.
    """
    if "study_name" in kw:
        raise ConfigError("search_many names each study itself (study_name_for); drop study_name")
    studies = [(s, int(seed)) for s, seed in studies]
    if len(set(studies)) != len(studies):
        raise ConfigError(f"search_many: a (sampler, seed) is given twice in {studies}")
    for s, _ in studies:
        _check_search(cfg, space, s, n_trials)
    kw = {**kw, "n_trials": n_trials}
    if workers is None:
        workers = default_workers([pick_device(cfg.train.device)])
    workers = max(1, min(workers, len(studies)))
    if workers > 1:
        prepare(cfg.data)  # the token files, once, before the processes that read them
        _in_processes(cfg, space, studies, workers, kw)
    out = {}
    for s, seed in studies:  # a stored, finished study loads at once; workers=1: it runs here
        t0 = time.perf_counter()
        out[s, seed] = search(cfg, space, sampler=s, seed=seed, **kw)
        if workers == 1:
            print(_done_line(s, seed, out[s, seed], time.perf_counter() - t0), flush=True)
    return out


def _done_line(sampler: str, seed: int, study, seconds: float) -> str:
    complete = [t.value for t in study.trials if t.state.name == "COMPLETE"]
    best = f"best val {min(complete):.3f}" if complete else "no complete trial"
    return f"{sampler} seed {seed}: {best}, {len(study.trials)} trials, {seconds:.0f} s"


def _in_processes(cfg: Config, space, studies: list[tuple[str, int]], workers: int, kw: dict) -> None:
    """Run the studies in `workers` spawned 1-thread processes; print a line as each one ends."""
    names = [f"study {s} seed {seed}" for s, seed in studies]
    work = functools.partial(_study_in_process, cfg, space, kw)
    in_processes(work, studies, workers=workers, names=names, kind="study", error=StudyFailed)


def _study_in_process(cfg: Config, space, kw: dict, task: tuple[str, int]) -> str:
    """One study, in a study process (slmlab.pool's): its line for the parent to print."""
    s, seed = task
    t0 = time.perf_counter()
    study = search(cfg, space, sampler=s, seed=seed, **kw)
    return _done_line(s, seed, study, time.perf_counter() - t0)


def plot(kind: str, study, **kw):
    """An optuna.visualization.matplotlib plot (history, importances, contour, slice,
    intermediate), without its ExperimentalWarning, and without its style: Optuna switches
    matplotlib to ggplot for the whole session (`plt.style.use`), so later figures would get its
    grey background; the plot is drawn inside an rc_context that puts the settings back."""
    optuna = _optuna()
    import matplotlib
    import optuna.visualization.matplotlib as ovm

    fns = {
        "history": ovm.plot_optimization_history,
        "importances": ovm.plot_param_importances,
        "contour": ovm.plot_contour,
        "slice": ovm.plot_slice,
        "intermediate": ovm.plot_intermediate_values,
    }
    if kind not in fns:
        raise ValueError(f"plot kind {kind!r} is unknown; use one of {', '.join(fns)}")
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return fns[kind](study, **kw)
