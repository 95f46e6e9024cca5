"""slmlab.search: Optuna studies whose trials are cached runs, stored in the runs folder,
resumed on a second call, pruned on the val loss of each eval."""

import optuna
import pytest

from slmlab import experiments
from slmlab.config import ConfigError
from slmlab.presets import preset
from slmlab.search import (
    Choice,
    IntRange,
    LogUniform,
    Uniform,
    grid,
    search,
    study_name_for,
    trial_config,
)


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("SLMLAB_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


CFG = preset("smoke", max_steps=12, eval_interval=3, eval_batches=2, warmup_steps=2, log_interval=3)
SPACE = {"lr": LogUniform(1e-4, 3e-2)}


def _states(study):
    return [t.state.name for t in study.trials]


def test_a_study_is_stored_and_a_second_call_resumes_it(runs):
    study = search(CFG, SPACE, sampler="random", n_trials=3, prune=False, study_name="s")
    assert _states(study) == ["COMPLETE"] * 3
    assert (runs / "studies" / "s.log").is_file()
    for t in study.trials:  # each trial is a run folder of the cache, trained to the end
        assert (runs / t.user_attrs["run_dir"] / "ckpt.pt").is_file() and t.user_attrs["updates"] == 12
    again = search(CFG, SPACE, sampler="random", n_trials=3, prune=False, study_name="s")
    assert len(again.trials) == 3  # nothing left to run
    more = search(CFG, SPACE, sampler="random", n_trials=4, prune=False, study_name="s")
    assert _states(more) == ["COMPLETE"] * 4
    assert more.best_value == min(t.value for t in more.trials)


def test_a_trial_that_asks_for_a_trained_config_loads_it(runs):
    lr = 3e-3
    done = experiments.run(CFG.replace(lr=lr), progress=False)
    study = search(CFG, {"lr": Choice([lr])}, sampler="grid", n_trials=1, prune=False, study_name="g")
    assert study.trials[0].user_attrs["run_dir"] == done.dir.name
    assert study.best_value == pytest.approx(done.history.best_val()[1])


def test_an_interrupted_trial_is_asked_again_with_its_params(runs):
    search(CFG, SPACE, sampler="random", n_trials=1, prune=False, study_name="i")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(runs / "studies" / "i.log"))
    )
    stale = optuna.load_study(study_name="i", storage=storage).ask(
        {"lr": optuna.distributions.FloatDistribution(1e-4, 3e-2, log=True)}
    )  # a kernel died here: the trial stays RUNNING in the file
    lr = stale.params["lr"]
    study = search(CFG, SPACE, sampler="random", n_trials=2, prune=False, study_name="i")
    assert _states(study) == ["COMPLETE", "FAIL", "COMPLETE"]
    assert study.trials[2].params["lr"] == pytest.approx(lr)


def test_pruned_trials_stop_early_and_their_runs_resume_later(runs):
    # lr 1e-4 learns far slower than 1e-2: once three good trials are in, the slow one
    # is below the median at its first eval after the pruner's warm-up and stops there
    first = [{"lr": lr} for lr in (1e-2, 1.1e-2, 1.2e-2, 1e-4)]
    study = search(CFG, SPACE, sampler="random", n_trials=4, study_name="p", pruner_warmup_steps=3, enqueue=first)
    assert [t.params for t in study.trials] == first
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert [t.params["lr"] for t in pruned] == [1e-4]
    assert pruned[0].user_attrs["updates"] < CFG.train.max_steps
    slow = experiments.run(trial_config(CFG, {"lr": 1e-4}), progress=False)  # no pruning: trained on
    assert slow.complete and slow.dir.name == pruned[0].user_attrs["run_dir"]
    assert slow.history.evals[0]["step"] == 3 and slow.history.steps[-1]["step"] == 12
    again = search(
        CFG, SPACE, sampler="random", n_trials=4, study_name="p2", pruner_warmup_steps=3, enqueue=first
    )  # a new study over the same, now cached, runs
    (replayed,) = [t for t in again.trials if t.state.name == "PRUNED"]
    assert replayed.user_attrs["updates"] == pruned[0].user_attrs["updates"]  # its cost, not the cached 12


def test_the_default_study_is_one_per_config_space_sampler_and_seed(runs):
    names = {
        study_name_for(CFG, SPACE, "tpe", 0),
        study_name_for(CFG.replace(lr=1e-3), SPACE, "tpe", 0),
        study_name_for(CFG, {"lr": LogUniform(1e-4, 1e-2)}, "tpe", 0),
        study_name_for(CFG, SPACE, "random", 0),
        study_name_for(CFG, SPACE, "tpe", 1),
    }
    assert len(names) == 5
    study = search(CFG, SPACE, sampler="tpe", n_trials=1, prune=False)
    assert study.study_name == study_name_for(CFG, SPACE, "tpe", 0)
    assert (runs / "studies" / f"{study.study_name}.log").is_file()


def test_grid_points_and_bad_spaces():
    g = grid(
        {
            "lr": LogUniform(1e-4, 1e-1),
            "dropout": Uniform(0.0, 0.3),
            "warmup_steps": IntRange(0, 100, 50),
            "micro_batch_size": Choice([8, 16]),
        },
        k=3,
    )
    assert g == {
        "lr": [3.16e-4, 3.16e-3, 3.16e-2],
        "dropout": [0.05, 0.15, 0.25],
        "warmup_steps": [0, 50, 100],
        "micro_batch_size": [8, 16],
    }
    with pytest.raises(ConfigError, match="'lrate', which is not a config field"):
        search(CFG, {"lrate": LogUniform(1e-4, 1e-2)})
    with pytest.raises(ConfigError, match="is not a range"):
        search(CFG, {"lr": (1e-4, 1e-2)})
    with pytest.raises(ConfigError, match="sampler 'bayes' is unknown"):
        search(CFG, SPACE, sampler="bayes")


def test_fewer_evals_train_the_same_run(runs):
    # 12's trials evaluate every 75 updates, not 25: an eval draws no random numbers of training
    # (no dropout in eval mode, its own batch sampler), so the run and the evals it shares are the same
    cfg = CFG.replace(dropout=0.1)
    every3 = experiments.run(cfg, progress=False).history
    every6 = experiments.run(cfg.replace(eval_interval=6), progress=False).history
    assert [e["step"] for e in every6.evals] == [6, 12]
    assert [s["loss"] for s in every6.steps] == [s["loss"] for s in every3.steps]
    assert [e["val_loss"] for e in every6.evals] == [e["val_loss"] for e in every3.evals if e["step"] % 6 == 0]


def test_optuna_plots_leave_the_matplotlib_style_as_it_was(runs):
    import matplotlib
    import matplotlib.pyplot as plt

    from slmlab.search import plot

    study = search(CFG, SPACE, sampler="random", n_trials=2, prune=False, study_name="style")
    before = matplotlib.rcParams["axes.facecolor"]
    ax = plot("history", study)
    plt.close(ax.figure)
    assert ax.get_facecolor() != matplotlib.colors.to_rgba(before)  # Optuna's ggplot look, inside its plot
    assert matplotlib.rcParams["axes.facecolor"] == before  # and not after it


# ---------------------------------------------------------------------------
# Many studies at once: search_many


TWO = [("random", 0), ("tpe", 1)]


@pytest.mark.slow  # two spawned processes import torch and optuna: seconds
def test_studies_in_two_processes_find_what_one_process_finds(tmp_path, monkeypatch, capsys):
    from slmlab.search import search_many

    found = {}
    for workers in (1, 2):
        monkeypatch.setenv("SLMLAB_RUNS_DIR", str(tmp_path / f"runs{workers}"))
        found[workers] = search_many(CFG, SPACE, TWO, workers=workers, n_trials=2, prune=False)
        assert list(found[workers]) == TWO
        stored = sorted(p.name for p in (tmp_path / f"runs{workers}" / "studies").glob("*.log"))
        assert stored == sorted(f"{study_name_for(CFG, SPACE, s, seed)}.log" for s, seed in TWO)
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith(("random seed 0: best val", "tpe seed 1: best val")) for line in lines) == 4
    for key in TWO:
        one, two = found[1][key], found[2][key]
        assert _states(two) == ["COMPLETE"] * 2 and len(one.trials) == 2
        assert [t.params for t in two.trials] == [t.params for t in one.trials]
        # one thread sums in another order than two: the last bits of float32 differ, no more
        assert [t.value for t in two.trials] == pytest.approx([t.value for t in one.trials], rel=1e-4)
        assert two.best_params == one.best_params
        for t in two.trials:  # each trained in a study process with one torch thread
            run = experiments.load_run(tmp_path / "runs2" / t.user_attrs["run_dir"])
            assert run.history.meta["threads"] == 1


@pytest.mark.slow
def test_a_study_that_fails_in_its_process_is_named_in_one_line(runs):
    from slmlab.search import StudyFailed, search_many

    bad = {"dropout": Choice([1.5])}  # a config field, so the space passes; the trial's run rejects it
    with pytest.raises(StudyFailed) as err:
        search_many(CFG, bad, TWO, workers=2, n_trials=1, prune=False)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(("study random seed 0 failed", "study tpe seed 1 failed"))
    assert msg.endswith("ConfigError: dropout=1.5 is outside [0, 1); use e.g. 0.0-0.3")


def test_search_many_checks_before_it_starts_processes(runs):
    from slmlab.search import search_many

    with pytest.raises(ConfigError, match="sampler 'bayes' is unknown"):
        search_many(CFG, SPACE, [("random", 0), ("bayes", 0)], workers=2)
    with pytest.raises(ConfigError, match="given twice"):
        search_many(CFG, SPACE, [("random", 0), ("random", 0)], workers=2)
    with pytest.raises(ConfigError, match="drop study_name"):
        search_many(CFG, SPACE, TWO, study_name="x")
