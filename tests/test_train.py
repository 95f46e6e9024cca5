"""The trainer: history, schedule, accumulation, clipping, decay groups, resume, guards,
callbacks."""

import json
import math
import re
import tokenize

import pytest
import torch

from slmlab.callbacks import Callback, ReplayLR, StopAt, TimeLimit
from slmlab.checkpoint import load_checkpoint
from slmlab.config import ConfigError
from slmlab.data import prepare
from slmlab.history import History
from slmlab.presets import preset
from slmlab.train import Trainer, decay_groups, lr_at, train


def smoke(**kw):
    return preset("smoke", **kw)


@pytest.fixture(scope="module")
def data():
    return prepare(smoke().data)


def test_train_returns_a_history_whose_loss_falls(data):
    cfg = smoke()
    h = train(cfg, data=data, progress=False)
    assert [r["step"] for r in h.steps] == list(range(1, cfg.train.max_steps + 1))
    assert [e["step"] for e in h.evals] == [20, 40]
    assert h.stop_reason is None
    first, last = h.steps[0]["loss"], h.steps[-1]["loss"]
    assert abs(first - math.log(data.vocab_size)) < 0.3  # starts at a uniform guess
    assert last < first - 0.5
    assert h.steps[-1]["tokens"] == cfg.train.max_steps * cfg.tokens_per_step
    assert h.meta["vocab_size"] == data.vocab_size


def test_val_only_evals_train_the_same_and_measure_the_same_val(data):
    """eval_train=False skips the train split's eval batches: the same updates, the same val
    losses bit for bit, and train_loss None (no gap), where a search needs val only."""
    both = train(smoke(dropout=0.1), data=data, progress=False)
    val_only = train(smoke(dropout=0.1, eval_train=False), data=data, progress=False)
    assert [r["loss"] for r in val_only.steps] == [r["loss"] for r in both.steps]
    assert [e["val_loss"] for e in val_only.evals] == [e["val_loss"] for e in both.evals]
    assert all(e["train_loss"] is None for e in val_only.evals)
    assert all(isinstance(e["train_loss"], float) for e in both.evals)
    assert val_only.gap() is None and both.gap() is not None


def test_schedule_warmup_from_near_zero_cosine_to_min_lr():
    t = smoke(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=100).train
    lrs = [lr_at(s, t) for s in range(101)]
    assert lrs[0] < 0.1 * t.lr  # starts near 0, not at lr/3
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))  # rises through warmup
    assert lrs[10] == pytest.approx(t.lr)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # never rises after warmup
    assert lrs[100] == pytest.approx(t.min_lr)


def test_schedule_progress_places_a_step_on_the_cosine():
    t = smoke(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=100).train
    assert lr_at(50, t, progress=0.0) == pytest.approx(t.lr)
    assert lr_at(50, t, progress=0.5) == pytest.approx(lr_at(55, t))  # halfway down either way
    assert lr_at(50, t, progress=1.7) == pytest.approx(t.min_lr)  # clamped: never below min_lr
    assert lr_at(5, t, progress=0.9) == lr_at(5, t)  # warmup counts steps, whatever the time


def test_a_time_budget_schedule_follows_its_clock_and_keeps_time_for_the_last_eval():
    from slmlab.schedule import Schedule

    t = smoke(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=1000, time_budget=12.0).train
    now = [0.0]
    s, meta = Schedule(t, lambda: now[0]), {}
    assert s.lr(5, meta) == lr_at(5, t) and meta == {}  # warmup counts steps
    now[0] = 2.0
    assert s.lr(10, meta) == pytest.approx(t.lr) and meta == {"warmup_end_seconds": 2.0}
    s.eval_seconds, now[0] = 2.0, 6.0  # 4 of the 8 s left after warmup, less one eval
    assert s.progress(11, meta) == pytest.approx(0.5) and not s.out_of_time()
    now[0] = 10.0  # 10 s + one 2 s eval: the budget is spent
    assert s.lr(12, meta) == pytest.approx(t.min_lr) and s.out_of_time()


@pytest.mark.slow
def test_time_budget_ends_the_run_with_its_cosine_spent(data):
    cfg = smoke(time_budget=2.0, max_steps=100_000, warmup_steps=5, eval_interval=50, log_interval=5)
    h = train(cfg, data=data, progress=False)
    assert h.stop_reason == "time" and 20 < h.steps[-1]["step"] < 100_000
    assert h.evals[-1]["step"] == h.steps[-1]["step"]  # it ends with an eval
    after = [r["lr"] for r in h.steps[5:]]
    assert all(a >= b for a, b in zip(after, after[1:]))  # the cosine only falls
    t = cfg.train
    assert after[-1] < t.min_lr + 0.05 * (t.lr - t.min_lr)  # and is nearly spent at the end
    assert 1.0 < h.meta["seconds"] < 4.0  # the budget, not max_steps, ended it
    assert h.meta["warmup_end_seconds"] > 0  # kept in the history: a resumed run goes on from it


def test_time_budget_is_refused_when_negative():
    with pytest.raises(ConfigError, match="time_budget"):
        train(smoke(time_budget=-1.0), progress=False)


def test_lr_is_stepped_per_update_not_per_micro_step(data):
    cfg = smoke(max_steps=12, warmup_steps=4, grad_accum_steps=3, eval_interval=12)
    h = train(cfg, data=data, progress=False)
    assert len(h.steps) == 12  # 12 updates of 3 micro-batches each
    assert [r["lr"] for r in h.steps] == [lr_at(s, cfg.train) for s in range(12)]
    assert h.steps[-1]["tokens"] == 12 * 3 * cfg.train.micro_batch_size * cfg.model.block_size


def test_replay_lr_trains_with_the_given_lrs_and_holds_the_last(data):
    cfg = smoke(max_steps=6, eval_interval=6)
    lrs = [1e-4, 2e-4, 5e-4, 3e-4]  # not the config's schedule: warmup 5 to 3e-3
    h = train(cfg, data=data, progress=False, callbacks=[ReplayLR(lrs)])
    assert [r["lr"] for r in h.steps] == pytest.approx([1e-4, 2e-4, 5e-4, 3e-4, 3e-4, 3e-4])
    other = ReplayLR([1e-4, 2e-4])
    assert other.changes_training and other.cache_tag != ReplayLR(lrs).cache_tag  # runs cached apart


class GradGrab(Callback):
    def on_after_backward(self, trainer):
        self.grads = [p.grad.clone() for p in trainer.model.parameters()]
        self.norm = torch.sqrt(sum((g.float() ** 2).sum() for g in self.grads)).item()


def _one_update_grads(cfg, data, batch, scaler=None):
    """Gradients of one update on a fixed batch, split into grad_accum_steps micro-batches."""
    tr = Trainer(cfg, data=data, callbacks=[GradGrab()], progress=False)
    chunks = iter(batch[0].chunk(cfg.train.grad_accum_steps)), iter(batch[1].chunk(cfg.train.grad_accum_steps))
    tr.sampler.next = lambda: (next(chunks[0]), next(chunks[1]))
    if scaler is not None:
        tr.scaler = scaler
    loss, gnorm, _ = tr.train_step()
    return tr.callbacks[0], loss.item(), gnorm.item()


def test_accumulation_4_by_quarter_equals_one_full_batch(data):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, data.vocab_size, (8, 32), generator=g)
    y = torch.randint(0, data.vocab_size, (8, 32), generator=g)
    full, loss_full, _ = _one_update_grads(smoke(micro_batch_size=8, grad_clip=0.0), data, (x, y))
    acc, loss_acc, _ = _one_update_grads(smoke(micro_batch_size=2, grad_accum_steps=4, grad_clip=0.0), data, (x, y))
    assert loss_acc == pytest.approx(loss_full, rel=1e-5)
    for a, b in zip(full.grads, acc.grads):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)


def test_clipping_sees_the_unscaled_gradient(data):
    g = torch.Generator().manual_seed(1)
    batch = (
        torch.randint(0, data.vocab_size, (8, 32), generator=g),
        torch.randint(0, data.vocab_size, (8, 32), generator=g),
    )
    cfg = smoke(micro_batch_size=8, grad_clip=1e9)
    plain, _, norm_plain = _one_update_grads(cfg, data, batch)
    scaled, _, norm_scaled = _one_update_grads(cfg, data, batch, scaler=torch.amp.GradScaler("cpu", init_scale=2.0**12))
    assert norm_scaled == pytest.approx(norm_plain, rel=1e-4)  # not 4096x
    assert scaled.norm == pytest.approx(plain.norm, rel=1e-4)


def test_weight_decay_only_on_matmul_weights_and_embeddings(data):
    tr = Trainer(smoke(), data=data, progress=False)
    decay, no_decay = decay_groups(tr.model)
    names = {id(p): n for n, p in tr.model.named_parameters()}
    assert {names[id(p)] for p in no_decay} == {n for n, p in tr.model.named_parameters() if p.dim() == 1}
    assert any(names[id(p)] == "wte.weight" for p in decay)
    assert tr.optimizer.param_groups[1]["weight_decay"] == 0.0
    assert tr.optimizer.param_groups[0]["weight_decay"] == tr.cfg.train.weight_decay


class KillAt(Callback):
    def __init__(self, step):
        self.at = step

    def on_update(self, trainer):
        if trainer.step == self.at:
            raise RuntimeError("simulated kill")


@pytest.mark.parametrize("crash", [False, True], ids=["stopped", "killed"])
def test_resume_continues_exactly_as_if_never_stopped(tmp_path, data, crash):
    cfg = smoke(max_steps=30, eval_interval=10, dropout=0.1)
    whole = train(cfg, data=data, progress=False, out_dir=tmp_path / "whole")
    part = tmp_path / "part"
    if crash:  # dies between checkpoints: resumes from the last eval (step 20)
        with pytest.raises(RuntimeError, match="simulated kill"):
            train(cfg, data=data, progress=False, out_dir=part, callbacks=[KillAt(25)])
        assert load_checkpoint(part / "ckpt.pt")["step"] == 20
    else:
        stopped = train(cfg, data=data, progress=False, out_dir=part, callbacks=[StopAt(17)])
        assert stopped.stop_reason == "stopped" and len(stopped.steps) == 17
    resumed = train(None, resume=part, data=data, progress=False)
    assert [r["loss"] for r in resumed.steps] == [r["loss"] for r in whole.steps]
    assert [e["val_loss"] for e in resumed.evals] == [e["val_loss"] for e in whole.evals]
    assert resumed.stop_reason is None


def test_run_folder_and_history_jsonl_format(tmp_path, data):
    out = tmp_path / "run"
    h = train(smoke(), data=data, progress=False, out_dir=out)
    assert {p.name for p in out.iterdir()} == {"config.json", "env.json", "history.jsonl", "ckpt.pt", "best.pt"}
    rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    steps = [r for r in rows if r["kind"] == "step"]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert set(steps[0]) >= {"kind", "step", "loss", "lr", "grad_norm", "tokens", "seconds"}
    assert set(evals[0]) >= {"kind", "step", "train_loss", "val_loss"}
    assert len(steps) == len(h.steps) and len(evals) == len(h.evals)
    again = History.load(out / "history.jsonl")
    assert again.steps == h.steps and again.evals == h.evals and again.config == h.config


def test_resume_with_a_different_config_is_refused(tmp_path, data):
    train(smoke(max_steps=10, eval_interval=5), data=data, progress=False, out_dir=tmp_path / "r")
    with pytest.raises(ConfigError, match="lr"):
        train(smoke(max_steps=10, eval_interval=5, lr=1e-2), resume=tmp_path / "r", data=data)
    with pytest.raises(ConfigError, match="differs from the saved one in name;"):  # not an empty list
        train(smoke(max_steps=10, eval_interval=5).replace(name="renamed"), resume=tmp_path / "r", data=data)


def test_corrupt_checkpoint_gives_one_clear_line(tmp_path):
    bad = tmp_path / "ckpt.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="damaged") as err:
        load_checkpoint(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


class Poison(Callback):
    def on_update(self, trainer):
        if trainer.step == 7:
            with torch.no_grad():
                trainer.model.wte.weight.fill_(float("nan"))


def test_nan_guard_stops_and_says_why(data, tmp_path):
    cfg = smoke(eval_interval=5, log_interval=5)
    h = train(cfg, data=data, progress=False, callbacks=[Poison()], out_dir=tmp_path / "nan")
    assert h.stop_reason == "nan"
    assert len(h.steps) <= 10  # noticed at the next log interval
    assert "lower lr" in h.meta["stop_message"]
    ckpt = load_checkpoint(tmp_path / "nan" / "ckpt.pt")  # the last finite weights, from step 5
    assert ckpt["step"] == 5 and torch.isfinite(ckpt["model"]["wte.weight"]).all()
    saved = History.load(tmp_path / "nan" / "history.jsonl")
    assert saved.stop_reason == "nan" and len(saved.steps) == len(h.steps)


def test_checkpoints_load_weights_only(tmp_path):
    """A pickled object in a checkpoint is refused, never executed."""
    evil = tmp_path / "ckpt.pt"
    torch.save({"version": 1, "model": {}, "payload": Poison()}, evil)
    with pytest.raises(ValueError, match="damaged or not an slmlab checkpoint"):
        load_checkpoint(evil)


def test_early_stopping_keeps_the_best_checkpoint(tmp_path, data, monkeypatch):
    vals = iter([3.0, 2.0, 2.5, 2.6, 2.7, 2.8])
    monkeypatch.setattr(Trainer, "evaluate", lambda self: {"train_loss": 1.0, "val_loss": next(vals)})
    cfg = smoke(max_steps=60, eval_interval=5, early_stop_patience=2)
    h = train(cfg, data=data, progress=False, out_dir=tmp_path / "es")
    assert h.stop_reason == "early_stop"
    assert [e["step"] for e in h.evals] == [5, 10, 15, 20]
    assert h.best_val() == (10, 2.0)
    assert load_checkpoint(tmp_path / "es" / "best.pt")["step"] == 10


def test_block_size_larger_than_the_data_is_refused(data):
    with pytest.raises(ConfigError, match="block_size"):
        Trainer(smoke(block_size=10_000_000), data=data, progress=False)


def test_time_limit_stops_and_evaluates_where_it_stopped(data):
    h = train(smoke(), data=data, progress=False, callbacks=[TimeLimit(0.0)])
    assert h.stop_reason == "time" and len(h.steps) == 1
    assert h.evals[-1]["step"] == 1


class HalfLR(Callback):
    def on_step_start(self, trainer):
        for g in trainer.optimizer.param_groups:
            g["lr"] *= 0.5


def test_a_callback_may_set_the_lr_and_the_history_records_the_lr_used(data):
    cfg = smoke(max_steps=6, eval_interval=6, warmup_steps=2)
    h = train(cfg, data=data, progress=False, callbacks=[HalfLR()])
    assert [r["lr"] for r in h.steps] == pytest.approx([0.5 * lr_at(s, cfg.train) for s in range(6)])


def test_use_model_trains_and_evaluates_the_given_model(data):
    from slmlab.model import GPT
    from slmlab.train import evaluate_loss

    trainer = Trainer(smoke(max_steps=6, eval_interval=3, warmup_steps=1), data=data, progress=False)
    mine = GPT(trainer.cfg.model)
    start = {k: v.clone() for k, v in mine.state_dict().items()}
    trainer.use_model(mine)
    h = trainer.run()
    t, T = trainer.cfg.train, trainer.cfg.model.block_size
    assert any(not torch.equal(v, mine.state_dict()[k]) for k, v in start.items())  # mine trained
    # the history's val is mine's (before use_model existed, a swapped model trained unevaluated)
    assert h.evals[-1]["val_loss"] == pytest.approx(
        evaluate_loss(mine, data.val, T, t.micro_batch_size, t.eval_batches), abs=1e-5
    )
    with pytest.raises(RuntimeError, match="before the first update"):
        trainer.use_model(GPT(trainer.cfg.model))


# ---------------------------------------------------------------------------
# The loop stays a loop: one process is Alone(), whose collectives change nothing


def test_alone_has_the_methods_of_dist_as_no_ops(monkeypatch):
    from slmlab import distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    alone = distributed.init("cpu")
    assert isinstance(alone, distributed.Alone)
    public = {n for n in vars(distributed.Dist) if not n.startswith("_")} - {
        "local_rank",
        "local_world_size",
        "backend",
        "device_index",
        "threads",
    }  # torchrun's own
    assert public <= set(dir(alone))  # the loop may call any of them without asking which
    assert (alone.rank, alone.world_size, alone.is_main) == (0, 1, True)
    t, model = torch.arange(3.0), torch.nn.Linear(2, 2)
    assert alone.mean(t) is t and alone.wrap(model, None, seed=7) is model
    assert alone.shard() == {} and alone.meta(smoke()) == {} and alone.gather_rng() is None
    assert alone.agree_stop(("stopped", False)) == ("stopped", False) and alone.agree_stop(None) is None
    clock = lambda: 1.5
    assert alone.mean_clock(clock) is clock
    state = torch.get_rng_state()
    alone.wrap(model, None, seed=7)
    alone.barrier()
    with alone.saving() as rngs:
        assert rngs is None
    assert torch.equal(torch.get_rng_state(), state)  # no reseeding alone
    asked, kept = [], []
    with alone.guard(stop=lambda: asked.append(1), keep=lambda: kept.append(1)):
        raise KeyboardInterrupt  # Ctrl-C alone: a stop, and the run goes on to its end
    assert asked == [1] and kept == []
    with pytest.raises(RuntimeError), alone.guard(stop=lambda: asked.append(1), keep=lambda: kept.append(1)):
        raise RuntimeError("boom")  # any other error: the records so far are kept, then it rises
    assert asked == [1] and kept == [1]


def test_an_agreement_alone_holds_a_stop_at_once_and_the_first_reason_wins(monkeypatch):
    from slmlab import distributed

    clock = lambda: 2.5
    stop = distributed.Alone().agreement(clock)
    assert stop.clock is clock  # alone the clock is read as it is
    assert not stop.holds
    stop.request("early_stop", False)
    stop.request("time", True)
    assert stop.holds and stop.asked == ("early_stop", False)
    stop.agree()
    assert stop.asked == ("early_stop", False)


def test_the_trainer_class_is_a_loop_of_at_most_150_lines():
    import inspect

    from slmlab import train as train_module

    lines = inspect.getsource(Trainer).splitlines()
    assert len(lines) <= 150, f"Trainer is {len(lines)} lines: move what is not the loop out of it"
    src = inspect.getsource(train_module)
    assert "dist is None" not in src and "dist is not None" not in src  # Alone() answers for one process


# Code lines of train.py that name the process group: `self.dist` (or any name ending in `dist`),
# a local alias `d.`, or the module `distributed.`; strings and comments are not code. The import
# line (`from . import ..., distributed, ...`) has no `distributed.` and does not count.
NAMES_THE_GROUP = re.compile(r"dist\b|\bd\.\w|\bdistributed\.")


def _code_lines(path) -> dict[int, str]:
    """{line number: its code}: the file's lines with comments and strings (docstrings too) blanked."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    with open(path, encoding="utf-8") as f:
        tokens = list(tokenize.generate_tokens(f.readline))
    not_code = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    for tok in (t for t in tokens if t.type in not_code):
        (r0, c0), (r1, c1) = tok.start, tok.end
        for r in range(r0, r1 + 1):
            a, b = (c0 if r == r0 else 0), (c1 if r == r1 else len(lines[r - 1]))
            lines[r - 1] = lines[r - 1][:a] + " " * (b - a) + lines[r - 1][b:]
    return {n: line for n, line in enumerate(lines, 1) if line.strip()}


# Issue 21: at most 10. train()'s lock (only rank 0 writes) is runfolder.lock_to_write's, and the
# resume's world-size check checkpoint.load_to_resume's.
MAX_LINES_NAMING_THE_GROUP = 10


def test_train_py_names_the_process_group_in_at_most_10_lines():
    from slmlab import train as train_module

    lines = {n: c for n, c in _code_lines(train_module.__file__).items() if NAMES_THE_GROUP.search(c)}
    assert any("distributed.join" in c for c in lines.values())  # the regex sees what it should
    listing = "\n".join(f"{n}: {c}" for n, c in sorted(lines.items()))
    assert len(lines) <= MAX_LINES_NAMING_THE_GROUP, (
        f"train.py names the process group in {len(lines)} lines:\n{listing}"
    )
