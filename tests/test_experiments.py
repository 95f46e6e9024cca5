"""Run records cached by config, resume of unfinished runs, callbacks and the cache, sweeps,
effects against the seed spread; the CLI end to end."""

import pytest

import slmlab.experiments as ex
from slmlab import cli
from slmlab.callbacks import Callback
from slmlab.config import Config, ConfigError
from slmlab.diagnostics import TrainingStats
from slmlab.history import History
from slmlab.presets import preset


def test_run_is_cached_by_config_and_unfinished_runs_resume(monkeypatch):
    cfg = preset("smoke", max_steps=10, eval_interval=5)
    first = ex.run(cfg, label="a", progress=False)
    assert first.complete and len(first.history.steps) == 10

    monkeypatch.setattr(ex, "train", no_training)
    again = ex.run(cfg, label="a", progress=False)
    assert again.dir == first.dir and again.history.steps == first.history.steps
    monkeypatch.undo()
    other = ex.run(cfg.replace(lr=1e-3), progress=False)
    assert other.dir != first.dir


def no_training(*a, **k):
    raise AssertionError("a cached run must not train again")


def test_a_recorder_gets_its_numbers_back_from_a_cached_run(monkeypatch, capsys):
    cfg = preset("smoke", max_steps=10, eval_interval=5).replace(name="stats-cache")
    first = TrainingStats(every=5)
    run = ex.run(cfg, callbacks=[first], progress=False)
    assert first.grads and first.updates and first.activations
    again = TrainingStats(every=5)
    monkeypatch.setattr(ex, "train", no_training)
    assert ex.run(cfg, callbacks=[again], progress=False).dir == run.dir  # cached: nothing trained
    assert again.recorded() == first.recorded()  # ... and the same statistics as the first time
    monkeypatch.undo()
    other = TrainingStats(every=2)  # a setting the cached run never recorded: trained again, said once
    rerun = ex.run(cfg, callbacks=[other], progress=False)
    # the same run (attention computed by hand on sampled steps moves the 7th digit, no more)
    assert [r["loss"] for r in rerun.history.steps] == pytest.approx([r["loss"] for r in run.history.steps])
    assert "training_stats-every2" in capsys.readouterr().out
    assert {a["step"] for a in other.activations} == {1, 2, 4, 6, 8, 10}
    monkeypatch.setattr(ex, "train", no_training)  # both records are kept: either comes back cached
    both = [TrainingStats(every=5), TrainingStats(every=2)]
    ex.run(cfg, callbacks=both, progress=False)
    assert [b.recorded() for b in both] == [first.recorded(), other.recorded()]


class DecayAll(Callback):
    changes_training = True

    def on_train_start(self, trainer):
        for group in trainer.optimizer.param_groups:
            group["weight_decay"] = 1.0


def test_a_callback_that_changes_training_is_keyed_or_refused():
    cfg = preset("smoke", max_steps=6, eval_interval=3)
    with pytest.raises(ConfigError, match="cache_tag"):
        ex.run(cfg, callbacks=[DecayAll()], progress=False)
    tagged = DecayAll()
    tagged.cache_tag = "decay-all"
    plain, changed = ex.run(cfg, progress=False), ex.run(cfg, callbacks=[tagged], progress=False)
    assert changed.dir != plain.dir and changed.history.steps != plain.history.steps


def test_the_label_is_written_once_by_the_trainer():
    cfg = preset("smoke", max_steps=6, eval_interval=3).replace(name="labelled")
    r = ex.run(cfg, label="first name", progress=False)
    assert History.load(r.dir).label == "first name"
    again = ex.run(cfg, label="second name", progress=False)  # a cache hit names the Run, not the file
    assert again.label == "second name" and History.load(r.dir).label == "first name"


def test_effect_means_spread_and_verdict():
    def fake(value, seed, best):
        h = History(evals=[{"kind": "eval", "step": 10, "val_loss": best, "train_loss": best - 0.1}])
        return ex.Run(dir=None, config=preset("smoke", dropout=value, seed=seed), history=h, label="")

    runs = [fake(0.0, 1, 2.00), fake(0.0, 2, 2.04), fake(0.2, 1, 1.80), fake(0.2, 2, 1.81), fake(0.1, 1, 1.99)]
    e = ex.effect(runs, "dropout")
    assert e.values == [0.0, 0.1, 0.2] and e.mean(0.0) == pytest.approx(2.02)
    assert e.spread == pytest.approx(0.04)  # the largest seed-to-seed range among the values
    assert e.best() == 0.2 and e.best([0.0, 0.1]) == 0.1
    assert e.verdict(0.2, 0.0) == "better" and e.verdict(0.0, 0.2) == "worse"
    assert e.verdict(0.1, 0.0).startswith("no different") and not e.clear(0.1, 0.0)
    assert e.verdict(0.1, 0.0, spread=0.001) == "better"  # a spread shared with other effects
    assert ex.effect(runs, "dropout", "gap").mean(0.2) == pytest.approx(0.1)
    with pytest.raises(KeyError, match="dropout=0.5"):
        e.mean(0.5)


def test_sweep_labels_and_seeds():
    cfg = preset("smoke", max_steps=6, eval_interval=3, warmup_steps=2)
    runs = ex.sweep(cfg, "dropout", [0.0, 0.2], seeds=(1, 2))
    assert [r.label for r in runs] == [
        "dropout=0 (seed 1)",
        "dropout=0 (seed 2)",
        "dropout=0.2 (seed 1)",
        "dropout=0.2 (seed 2)",
    ]
    assert runs[0].history.steps != runs[1].history.steps  # seeds differ
    assert runs[2].config.model.dropout == 0.2
    assert "best val" in repr(runs[0])
    assert ex.with_seed(runs, 2) == [runs[1], runs[3]]
    assert [r.config.model.dropout for r in ex.with_seed(runs[::-1], 1, by="dropout")] == [0.0, 0.2]


# ---------------------------------------------------------------------------
# Several runs at once: run_all


TWO = [preset("smoke", max_steps=6, eval_interval=3, warmup_steps=2, seed=seed) for seed in (1, 2)]


def _vals(run):
    return [e["val_loss"] for e in run.history.evals]


@pytest.mark.slow  # two spawned processes import torch: seconds
def test_runs_in_two_processes_match_one_process_and_are_cached(tmp_path, monkeypatch):
    found = {}
    for workers in (1, 2):
        monkeypatch.setenv("SLMLAB_RUNS_DIR", str(tmp_path / f"runs{workers}"))
        if workers == 2:  # trained in the spawned processes (which import train afresh), not here
            monkeypatch.setattr(ex, "train", no_training)
        found[workers] = ex.run_all(TWO, labels=["a", "b"], workers=workers, progress=False)
        assert [(r.label, r.config.train.seed, r.complete) for r in found[workers]] == [("a", 1, True), ("b", 2, True)]
    for one, two in zip(found[1], found[2]):
        assert two.dir.parent == tmp_path / "runs2" and two.history.meta["threads"] == 1
        # one thread sums in another order than two: the last bits of float32 differ, no more
        assert _vals(two) == pytest.approx(_vals(one), rel=1e-4)
    assert _vals(found[2][0]) != _vals(found[2][1])  # the seeds differ: the order is kept

    def no_processes(*a, **k):
        raise AssertionError("cached runs must load here, without starting processes")

    monkeypatch.setattr(ex, "in_processes", no_processes)
    again = ex.run_all(TWO, labels=["a", "b"], workers=2)
    assert [(r.dir, r.history.evals) for r in again] == [(r.dir, r.history.evals) for r in found[2]]


class Boom(Callback):  # at module level: a run process unpickles it
    changes_training = True
    cache_tag = "boom"

    def on_train_start(self, trainer) -> None:
        raise RuntimeError("boom,\n at the start")


@pytest.mark.slow
def test_a_run_that_fails_in_its_process_is_named_in_one_line():
    two = [c.replace(name="fails") for c in TWO]  # not cached by another test: both go to processes
    with pytest.raises(ex.RunFailed) as err:
        ex.run_all(two, labels=["fine", "bad"], callbacks=[[], [Boom()]], workers=2, progress=False)
    assert str(err.value) == "run 2 of 2 (bad, fails) failed in its process: RuntimeError: boom, at the start"


def test_run_all_checks_every_config_before_it_starts_processes(monkeypatch):
    monkeypatch.setattr(ex, "in_processes", no_training)
    with pytest.raises(ConfigError, match="dropout=1.5"):
        ex.run_all([TWO[0], TWO[1].replace(dropout=1.5)], workers=2)
    with pytest.raises(ConfigError, match="2 configs, 1 labels"):
        ex.run_all(TWO, labels=["a"], workers=2)


def test_cli_train_then_sample(tmp_path, capsys):
    out = tmp_path / "cli-run"
    assert (
        cli.main(
            [
                "train",
                "--profile",
                "smoke",
                "--set",
                "max_steps=8",
                "--set",
                "eval_interval=4",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert "best val" in capsys.readouterr().out
    assert (out / "ckpt.pt").is_file()
    assert cli.main(["sample", str(out), "--tokens", "20", "--prompt", "the"]) == 0
    assert capsys.readouterr().out.count("--- sample") == 1


def test_cli_resume_continues_and_refuses_new_settings(tmp_path, capsys):
    import json

    out = tmp_path / "run"
    argv = ["train", "--set", "max_steps=8", "--set", "eval_interval=4", "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    assert cli.main(["train", "--resume", str(out), "--set", "lr=1e-2"]) == 2
    assert "drop --set" in capsys.readouterr().err
    # lengthen the saved run by hand, then resume it: it goes on from step 8
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["max_steps"] == 8
    import torch

    ckpt = torch.load(out / "ckpt.pt", weights_only=True)
    ckpt["config"]["train"]["max_steps"] = 12
    torch.save(ckpt, out / "ckpt.pt")
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 0
    assert "12 steps" in capsys.readouterr().out


def test_cli_prepare_and_lint_of_a_json_list(tmp_path, capsys):
    assert cli.main(["prepare", "--set", "corpus_bytes=20000"]) == 0
    assert "train +" in capsys.readouterr().out
    bad = tmp_path / "list.json"
    bad.write_text("[1, 2]")
    good = tmp_path / "student.json"
    good.write_text('{"batch_size": 32, "block_size": 128, "gradient_accumulation_steps": 32, "max_iters": 20000}')
    cli.main(["lint", str(good), "--train-tokens", "500000"])
    assert "epochs over" in capsys.readouterr().out
    assert cli.main(["lint", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not an object" in err and "\n" not in err


@pytest.mark.parametrize(
    "argv,match",
    [
        (["train", "--set", "min_lr=1", "--set", "lr=0.1"], "min_lr"),
        (["train", "--set", "learning_rate=1"], "unknown config field"),
        (["train", "--corpus", "wikipedia"], "corpus"),
        (["train", "--tokenizer", "words"], "tokenizer"),
        (["sample", "/nonexistent/run"], "no checkpoint"),
    ],
)
def test_cli_bad_values_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, argv, match):
    out = tmp_path / "never"
    extra = ["--out", str(out)] if argv[0] == "train" else []
    assert cli.main(argv + extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and match in err and "\n" not in err
    assert not out.exists()


def test_cli_ladder_lint_and_doctor(tmp_path, capsys):
    import json

    from slmlab.diagnostics import STUDENT_CONFIG

    assert cli.main(["ladder", "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "uniform" in out and "bigram" in out and "bits/byte" in out

    student = tmp_path / "student.json"
    student.write_text(json.dumps(STUDENT_CONFIG))
    assert cli.main(["lint", str(student)]) == 1  # errors -> non-zero exit
    out = capsys.readouterr().out
    assert "min_lr_above_lr" in out and "scheduler_per_micro_step" in out
    good = tmp_path / "good.json"
    good.write_text(preset("cpu").to_json())
    assert cli.main(["lint", str(good)]) == 0
    capsys.readouterr()

    run_dir = tmp_path / "doc-run"
    assert (
        cli.main(
            [
                "train",
                "--profile",
                "smoke",
                "--set",
                "max_steps=10",
                "--set",
                "eval_interval=5",
                "--out",
                str(run_dir),
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert cli.main(["doctor", str(run_dir)]) == 0
    assert "see 0" in capsys.readouterr().out  # every finding names the notebook that teaches it


def test_cache_key_tells_dtypes_apart(monkeypatch):
    import slmlab.device as dev

    cfg = preset("smoke", dtype="auto")
    monkeypatch.setattr(dev, "CPU_AUTO_BF16", False)
    fp32 = ex.config_key(cfg)
    monkeypatch.setattr(dev, "CPU_AUTO_BF16", True)
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: True)
    assert ex.config_key(cfg) != fp32
    assert ex.config_key(cfg.replace(dtype="float32")) == ex.config_key(cfg.replace(dtype="float32"))


def test_a_new_config_field_at_its_default_keeps_every_run_key():
    """Simulated: a field the key has never seen, in the config and in the defaults."""
    cfg, defaults = Config().to_dict(), Config().flat()
    grown = {**cfg, "train": {**cfg["train"], "new_knob": 0.5}}
    assert ex._key_dict(grown, {**defaults, "new_knob": 0.5}) == ex._key_dict(cfg, defaults)
    assert ex._key_dict(grown, {**defaults, "new_knob": 0.7}) != ex._key_dict(cfg, defaults)


def test_a_field_that_existed_changes_the_key_even_at_a_new_default():
    """_KEYED_FIELDS are in the key at any value: a changed default is a changed run."""
    cfg, defaults = Config().to_dict(), Config().flat()
    changed = {**cfg, "train": {**cfg["train"], "lr": 5e-4}}
    assert ex._key_dict(changed, {**defaults, "lr": 5e-4}) != ex._key_dict(cfg, defaults)
    assert ex.config_key(preset("smoke", lr=1e-3)) != ex.config_key(preset("smoke"))


def test_the_defaults_of_fields_added_after_the_key_version():
    """Such a field is left out of the key at its default, so changing that default would let
    a run cached at the old one pass for the new: bump KEY_VERSION then."""
    later = {k: v for k, v in Config().flat().items() if k not in ex._KEYED_FIELDS}
    assert later == {
        "eval_train": True,
        "time_budget": 0.0,
        "optimizer": "adamw",
        "muon_lr": 0.02,
        "sampling": "random",
        "input_noise": 0.0,
    }, (
        "a field was added after KEY_VERSION (add its default here; nothing else to do), or the "
        "default of one of these changed (bump KEY_VERSION and list every field in _KEYED_FIELDS)"
    )
