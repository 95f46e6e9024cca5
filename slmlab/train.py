"""Training: `train(cfg) -> History`, the Trainer's loop, and the step and eval every caller shares.

What the student's notebook got wrong is impossible here by construction:
- the schedule is a function of the optimizer update (`lr_at`), never of the
  micro-step: linear warmup from near 0, then cosine down to min_lr, and
  min_lr > lr is refused by `config.validate`;
- weight decay goes on matmul weights and embeddings only (`configure_optimizer`);
- gradients are clipped after the GradScaler unscales them (`optimizer_update`);
- `eval_interval` (updates between evals) and `eval_batches` (batches per
  eval) are two numbers; `block_size` is one number for model and data;
- a checkpoint holds model, optimizer, scaler, step, RNG and sampler state,
  so `train(resume=DIR)` continues exactly as if never stopped.

Holds the optimizer (`decay_groups`, `configure_optimizer`, `compile_model`), one
optimizer update (`optimizer_update`, which the Trainer's public `train_step()` and the
health checks run), one evaluation (`evaluate_loss` on fixed batches drawn with
`EVAL_SEED`, which the Trainer, the health checks, bench and notebooks use), and the
`Trainer`, which is the loop only. The schedule (`lr_at`, kept importable from here, and a
time_budget's clock) is slmlab.schedule's; the process group and its collectives, one
object the loop calls the same way alone or under torchrun, slmlab.distributed's. Records
are slmlab.history's, callbacks (time limit, early stopping, best.pt, progress bar)
slmlab.callbacks', checkpoints slmlab.checkpoint's, the run folder's names and lock
slmlab.runfolder's (`train` holds the lock while it writes a folder). It knows no plots
and no widgets: they plug in as callbacks.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

from . import checkpoint, distributed, optim, runfolder
from .callbacks import EarlyStopping, KeepBest, ProgressBar, TimeBudget
from .config import Config, ConfigError, TrainConfig, validate
from .data import BatchSampler, TokenData, check_block_size, prepare
from .device import Device, bf16_native
from .history import NAN, STOPPED, History
from .model import GPT
from .schedule import Schedule, lr_at

__all__ = [
    "Trainer",
    "train",
    "StepResult",
    "lr_at",
    "decay_groups",
    "configure_optimizer",
    "compile_model",
    "optimizer_update",
    "evaluate_loss",
    "eval_batch_losses",
    "eval_record",
    "EVAL_SEED",
]

PathLike = str | Path | None  # a folder given as text or a Path; None: none
EVAL_SEED = 12345  # every eval draws the same batches, so two evals differ only by the model


# ---------------------------------------------------------------------------
# Optimizer


def decay_groups(model: torch.nn.Module | list) -> tuple[list, list]:
    """(decayed, not decayed): matmul weights and embeddings decay; norms and biases don't.
    model: a module, or a list of its parameters (AdamW's share under Muon)."""
    params = model if isinstance(model, list) else [p for p in model.parameters() if p.requires_grad]
    return [p for p in params if p.dim() >= 2], [p for p in params if p.dim() < 2]


def configure_optimizer(model: torch.nn.Module, tcfg: TrainConfig, device: Device | str):
    """The optimizer tcfg.optimizer names: AdamW (betas, lr, decay from tcfg) with decay groups, or
    Muon on the blocks' 2-D weights (at muon_lr) with that AdamW on the rest (slmlab.optim).
    Fused AdamW kernels on CUDA and CPU, foreach elsewhere.

    device: a Device or its type ('cpu', 'cuda', 'mps'). The fused CPU kernel
    needs torch >= 2.4; older versions fall back to foreach.
    """
    kind = device if isinstance(device, str) else device.type
    if tcfg.optimizer == "muon":
        hidden, rest = optim.muon_split(model)
        if not hidden:
            raise ConfigError(
                "optimizer='muon' found no 2-D weights inside model.blocks to give "
                "Muon; use optimizer='adamw' for this model"
            )
        ns_dtype = torch.bfloat16 if bf16_native(kind) else torch.float32
        muon = optim.Muon(
            hidden, lr=tcfg.muon_lr, weight_decay=tcfg.weight_decay, ns_dtype=ns_dtype, lr_scale=tcfg.muon_lr / tcfg.lr
        )
        return optim.Optimizers(_adamw(rest, tcfg, kind), muon)
    return _adamw([p for p in model.parameters() if p.requires_grad], tcfg, kind)


def _adamw(params: list, tcfg: TrainConfig, kind: str) -> torch.optim.AdamW:
    decay, no_decay = decay_groups(params)
    groups = [{"params": decay, "weight_decay": tcfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kw = {"lr": tcfg.lr, "betas": (tcfg.beta1, tcfg.beta2)}
    if kind in ("cuda", "cpu"):
        try:
            return torch.optim.AdamW(groups, fused=True, **kw)
        except (RuntimeError, TypeError):  # an older torch without the fused CPU kernel
            pass
    return torch.optim.AdamW(groups, foreach=True, **kw)


def compile_model(model: torch.nn.Module, device: Device) -> torch.nn.Module:
    """torch.compile(model) where a compiler backend is present, else the model as it is.

    Inductor needs Triton on CUDA and a C++ compiler on CPU; without them the
    first step would fail, so we warn and train eagerly instead.
    """
    import importlib.util
    import shutil
    import warnings

    missing = None
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:
        missing = "triton is not installed"
    elif device.type == "cpu" and not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
        missing = "no C++ compiler (g++/clang++) is on PATH"
    elif device.type == "mps" or sys.platform == "win32":
        missing = f"torch.compile is not reliable on {device.type}/{sys.platform}"
    if missing:
        warnings.warn(f"compile=True ignored: {missing}; training eagerly", stacklevel=2)
        return model
    return torch.compile(model)


# ---------------------------------------------------------------------------
# One optimizer update, one evaluation


def optimizer_update(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    *,
    accum_steps: int = 1,
    autocast: Callable = contextlib.nullcontext,
    scaler: torch.amp.GradScaler | None = None,
    grad_clip: float = 0.0,
    after_backward: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward/backward of accum_steps micro-batches from next_batch(), unscale, clip, step.

    Returns (loss, grad_norm) as device tensors, no host sync: loss is the mean over
    the micro-batches, grad_norm the total norm before clipping (grad_clip 0: none).
    after_backward runs with the final (unscaled, clipped) gradients, before the step.
    A DistributedDataParallel model averages gradients over ranks on the last micro-batch
    only (no_sync on the others: one all-reduce per update, not one per micro-batch).
    """
    parts = []
    for i in range(accum_steps):
        x, y = next_batch()  # (B, T), (B, T)
        with _no_sync_unless(model, i == accum_steps - 1):
            with autocast():
                _, loss = model(x, y)
            loss = loss / accum_steps  # the mean over all micro-batches, not their sum
            (scaler.scale(loss) if scaler is not None else loss).backward()
        parts.append(loss.detach())
    if scaler is not None:
        scaler.unscale_(optimizer)  # clip the true gradient, not the scaled one
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip if grad_clip > 0 else math.inf)
    if after_backward is not None:
        after_backward()
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return torch.stack(parts).sum(), grad_norm


def _no_sync_unless(model: torch.nn.Module, sync: bool):
    """A model that averages gradients over processes (DDP) has no_sync(): on a micro-step that
    must not all-reduce, it is used; nothing otherwise."""
    if sync or not hasattr(model, "no_sync"):
        return contextlib.nullcontext()
    return model.no_sync()


@torch.no_grad()
def eval_batch_losses(
    model: torch.nn.Module,
    tokens,
    block_size: int,
    batch_size: int,
    n_batches: int,
    device: Device | None = None,
    seed: int = EVAL_SEED,
    **shard: int,
) -> torch.Tensor:
    """The loss of each of n_batches batches drawn with `seed` (the same batches every call): (n_batches,).

    device: a Device, whose autocast the forward runs in; None: the model's device, float32.
    The model runs in eval mode (no dropout) and gets its own mode back afterwards.
    shard: under torchrun, rank and world_size: this rank's slice of each batch of batch_size x
    world_size (BatchSampler's keywords).
    """
    on = next(model.parameters()).device
    sampler = BatchSampler(tokens, block_size, batch_size, seed=seed, device=str(on), **shard)
    autocast = device.autocast if device is not None else contextlib.nullcontext
    was_training = model.training
    model.eval()
    losses = torch.zeros(n_batches, device=on)
    for i in range(n_batches):
        x, y = sampler.next()  # (B, T), (B, T)
        with autocast():
            _, loss = model(x, y)
        losses[i] = loss.float()  # stays on the device: the caller syncs once
    model.train(was_training)
    return losses


def evaluate_loss(
    model: torch.nn.Module,
    tokens,
    block_size: int,
    batch_size: int,
    n_batches: int,
    device: Device | None = None,
    seed: int = EVAL_SEED,
) -> float:
    """Mean loss on n_batches fixed batches of `tokens`: what the Trainer records as train/val loss."""
    return eval_batch_losses(model, tokens, block_size, batch_size, n_batches, device, seed).mean().item()


class StepResult(NamedTuple):
    """What one Trainer.train_step() did (device tensors: reading them syncs with the device)."""

    loss: torch.Tensor  # mean loss over the update's micro-batches
    grad_norm: torch.Tensor  # total gradient norm before clipping
    lr: float  # the lr the update used


# ---------------------------------------------------------------------------
# The Trainer: the loop


class Trainer:
    """Owns model, optimizer, data and the loop of one run; the rest plugs in as callbacks (the config adds
    EarlyStopping, KeepBest, ProgressBar and TimeBudget after the given ones). `data`: prepared TokenData, else
    prepare(cfg.data). Alone or under torchrun (self.dist) the loop is the same; there rank 0 writes and prints."""

    def __init__(self, cfg: Config, *, data=None, callbacks=(), out_dir: PathLike = None, progress=True, label=None):
        cfg, self.data = _fitted(cfg, data)  # validated; vocab_size the tokenizer's unless set
        self.cfg = cfg
        self.dist, self.device = distributed.join(cfg.train)  # Alone(), or this torchrun rank; its GPU/cores
        main = self.dist.is_main  # the process that writes the run folder and prints
        self.out_dir = Path(out_dir) if out_dir is not None and main else None
        torch.manual_seed(cfg.train.seed)
        model = GPT(cfg.model)
        self.step, self.label, self.seconds_before = 0, label, 0.0  # seconds_before: a resumed run's past
        self.use_model(model)  # self.model, eval_model (compiled), step_model (DDP), optimizer
        self.scaler = self.device.grad_scaler()
        self.shard = self.dist.shard()  # this rank's slice of every batch, trained or evaluated ({}: all)
        t, where = cfg.train, str(self.device.torch_device)
        aug = {"sampling": cfg.data.sampling, "input_noise": cfg.data.input_noise}  # 05's augmentation; off by default
        self.sampler = BatchSampler(
            self.data.train, cfg.model.block_size, t.micro_batch_size, t.seed, where, **self.shard, **aug
        )
        self.callbacks = [*callbacks, *_stock_callbacks(cfg, self.out_dir, progress and main)]
        meta = _meta(cfg, self.data, self.model, self.device) | self.dist.meta(cfg)  # torchrun: world_size, batch
        self.history = History(config=cfg.to_dict(), meta=meta)
        self.tokens_per_step = self.history.meta["tokens_per_step"]  # over all ranks
        self._agreed = self.dist.agreement(self.seconds)  # ranks agree on when to stop and on the clock
        self.schedule = Schedule(cfg.train, self.seconds, self._agreed.clock)  # a time_budget's lr, alike on all
        self._t0 = time.perf_counter()

    def request_stop(self, reason: str = STOPPED, *, final_eval: bool = False) -> None:
        """End the loop after this update (thread-safe; the first reason wins); final_eval: eval there."""
        self._agreed.request(reason, final_eval)

    def seconds(self) -> float:
        """Wall time of this run so far, earlier sessions of a resumed run included."""
        return self.seconds_before + (time.perf_counter() - self._t0)

    def _emit(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def use_model(self, model: torch.nn.Module) -> None:
        """Train `model` (moved, compiled if cfg.train.compile, wrapped for DDP, a fresh optimizer):
        __init__'s GPT, or before the first update another one (notebook 02 trains the student's).
        Under torchrun every rank built the same weights (DDP takes rank 0's anyway); once wrapped,
        each rank but 0 draws its own dropout stream. Alone nothing is reseeded."""
        if self.step:
            raise RuntimeError("use_model() must come before the first update; build a new Trainer")
        self.model = model.to(self.device.torch_device)
        self.eval_model = compile_model(self.model, self.device) if self.cfg.train.compile else self.model
        self.step_model = self.dist.wrap(self.eval_model, self.device, seed=self.cfg.train.seed)
        self.optimizer = configure_optimizer(self.model, self.cfg.train, self.device)

    def train_step(self) -> StepResult:
        """One optimizer update: the schedule's lr, on_step_start, grad_accum_steps micro-batches,
        clip, step, on_update. No host sync (bench times exactly this)."""
        t = self.cfg.train
        optim.set_lr(self.optimizer, self.schedule.lr(self.step, self.history.meta))
        self._emit("on_step_start")  # may change the lr: the one used is recorded
        lr = self.optimizer.param_groups[0]["lr"]
        kw = dict(
            accum_steps=t.grad_accum_steps, autocast=self.device.autocast, scaler=self.scaler, grad_clip=t.grad_clip
        )
        after = lambda: self._emit("on_after_backward")  # noqa: E731
        loss, grad_norm = optimizer_update(
            self.step_model, self.optimizer, self.sampler.next, after_backward=after, **kw
        )
        self.step += 1
        self._emit("on_update")
        return StepResult(loss, grad_norm, lr)

    def evaluate(self) -> dict:
        """train_loss and val_loss: the mean loss on eval_batches fixed batches of each split
        (evaluate_loss's); under torchrun each rank takes its slice, and the ranks average them.
        eval_train=False measures val alone (train_loss None): the same val, in half the time."""
        t, T = self.cfg.train, self.cfg.model.block_size
        splits = (self.data.train, self.data.val) if t.eval_train else (self.data.val,)
        losses = torch.stack(
            [
                eval_batch_losses(self.eval_model, s, T, t.micro_batch_size, t.eval_batches, self.device, **self.shard)
                for s in splits
            ]
        )  # (splits, eval_batches), this rank's
        means = self.dist.mean(losses).mean(dim=1).tolist()  # ranks: one all-reduce
        return {"train_loss": means[0] if t.eval_train else None, "val_loss": means[-1]}

    def run(self) -> History:
        """Train to max_steps or a stop. Under torchrun a lost peer ends it with PeerLost; alone Ctrl-C
        ends it where it is, with its last records and checkpoint (Alone.guard, Dist.guard)."""
        t = self.cfg.train
        self._t0 = time.perf_counter()
        if self.out_dir is not None:
            checkpoint.start_run_dir(self.out_dir, self.cfg, self.device)
        if self.label:
            self.history.meta["label"] = self.label
        self._emit("on_train_start")
        pending: list[tuple[int, StepResult, float]] = []
        with self.dist.guard(stop=self.request_stop, keep=lambda: self._flush(pending)):  # ranks: see run()
            while self.step < t.max_steps and not self._agreed.holds:
                result = self.train_step()
                pending.append((self.step, result, self.seconds()))
                at_eval = self.step % t.eval_interval == 0 or self.step == t.max_steps
                if self.step % t.log_interval == 0 or at_eval:
                    self._flush(pending)
                    self._agreed.agree()
                if at_eval and not self._agreed.holds:
                    self._eval_and_record()
        self._flush(pending)
        return self._finish()

    def _flush(self, pending: list) -> None:
        """Sync with the device once: turn pending results into step records."""
        if not pending:
            return
        records = _step_records(pending, self.dist.mean, self.tokens_per_step)
        pending.clear()
        self.history.steps.extend(records)
        self._emit("on_log", records)
        if not all(math.isfinite(r["loss"]) for r in records):
            self.request_stop(NAN)

    def _eval_and_record(self) -> None:
        t0 = time.perf_counter()
        rec = eval_record(self)
        self.schedule.eval_seconds = time.perf_counter() - t0
        self.history.evals.append(rec)
        self._emit("on_eval", rec)
        self._agreed.agree()  # a stop an on_eval callback asked for (early stopping) holds on all ranks
        self._save()

    def _save(self, weights: bool = True) -> None:
        """ckpt.pt (unless weights=False) and history.jsonl, by rank 0, with each rank's RNG state (dropout)."""
        with self.dist.saving(rng=weights) as rngs:  # ranks: RNGs gathered; all wait until rank 0 has written
            if self.out_dir is not None:
                checkpoint.save(self, weights=weights, ranks=rngs)

    def _finish(self) -> History:
        self._agreed.agree()  # a request since the last log step (an on_eval callback) counts on every rank
        reason, final_eval = self._agreed.asked or (None, False)
        if reason == NAN:
            self.history.meta["stop_message"] = _nan_message(self.history)
        elif final_eval and (not self.history.evals or self.history.evals[-1]["step"] != self.step):
            self._eval_and_record()
        self.history.stop_reason = reason
        self.history.meta["seconds"] = self.seconds()
        self._save(weights=reason != NAN)  # after a NaN, ckpt.pt keeps the last finite weights
        self._emit("on_train_end")
        return self.history


def _fitted(cfg: Config, data: TokenData | None) -> tuple[Config, TokenData]:
    """The config, validated, with vocab_size from the tokenizer (unless set), and its token data."""
    validate(cfg)
    data = data if data is not None else prepare(cfg.data)
    cfg = _with_vocab(cfg, data.vocab_size)
    check_block_size(data, cfg.model.block_size)
    return cfg, data


def eval_record(trainer) -> dict:
    """The history's eval record of `trainer`'s update now (a Trainer, or the TrainerView a
    callback gets): evaluate()'s losses, the step, the tokens seen and the seconds."""
    tokens = trainer.step * trainer.tokens_per_step
    return {"kind": "eval", "step": trainer.step, **trainer.evaluate(), "tokens": tokens, "seconds": trainer.seconds()}


def _step_records(pending: list, mean: Callable, tokens_per_step: int) -> list[dict]:
    """Step records of pending (step, StepResult, seconds): one host sync for all of them. mean: the
    mean over ranks (the identity alone); grad norms are the same on every rank already (DDP)."""
    losses = mean(torch.stack([r.loss for _, r, _ in pending]).float()).cpu().tolist()  # (n,)
    norms = torch.stack([r.grad_norm for _, r, _ in pending]).float().cpu().tolist()  # (n,)
    return [
        {
            "kind": "step",
            "step": step,
            "loss": loss,
            "lr": r.lr,
            "grad_norm": gn,
            "tokens": step * tokens_per_step,
            "seconds": secs,
        }
        for (step, r, secs), loss, gn in zip(pending, losses, norms, strict=True)
    ]


def _with_vocab(cfg: Config, vocab_size: int) -> Config:
    if cfg.model.vocab_size is None:
        return cfg.replace(vocab_size=vocab_size)
    if cfg.model.vocab_size < vocab_size:
        raise ConfigError(
            f"vocab_size={cfg.model.vocab_size} is smaller than the tokenizer's "
            f"{vocab_size}; leave vocab_size unset (None) to take it from the tokenizer"
        )
    return cfg


def _stock_callbacks(cfg: Config, out_dir: Path | None, progress: bool) -> list:
    own = [EarlyStopping(cfg.train.early_stop_patience)] if cfg.train.early_stop_patience else []
    own += [KeepBest()] if out_dir is not None else []
    own += [ProgressBar()] if progress else []
    return own + ([TimeBudget()] if cfg.train.time_budget else [])  # last: other stops come first


def _meta(cfg: Config, data: TokenData, model: GPT, device: Device) -> dict:
    m = data.manifest
    return {
        "vocab_size": cfg.model.vocab_size,
        "corpus": m.get("corpus"),
        "tokenizer": m.get("tokenizer"),
        "entropy_floor": m.get("entropy_floor"),
        "val_bytes": m.get("val_bytes"),
        "val_bytes_per_token": data.val_bytes_per_token,
        "n_train_tokens": int(len(data.train)),
        "n_val_tokens": int(len(data.val)),
        "n_params": model.num_params(),
        "n_params_non_embedding": model.num_params(non_embedding=True),
        "flops_per_token": model.flops_per_token(),
        "tokens_per_step": cfg.tokens_per_step,
        "device": device.type,
        "dtype": device.dtype_name,
        "threads": device.threads,
    }


def _nan_message(h: History) -> str:
    bad = next(r for r in h.steps if not math.isfinite(r["loss"]))
    return (
        f"loss became {bad['loss']} at step {bad['step']} (lr {bad['lr']:.2e}, grad norm "
        f"{bad['grad_norm']:.3g}): lower lr, keep grad_clip on, or use a longer warmup"
    )


# ---------------------------------------------------------------------------


def train(
    cfg: Config | None = None,
    *,
    callbacks=(),
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    data: TokenData | None = None,
    progress: bool = True,
    label: str | None = None,
) -> History:
    """Train a GPT; return its History. resume=DIR continues the run saved in DIR.
    label: the run's name in its history (meta["label"]), for plots and overlays.
    The run folder (out_dir, else resume) is locked while it trains: another live process
    training it is refused with one line (under torchrun rank 0 holds the lock: it writes)."""
    folder = out_dir if out_dir is not None else resume
    with runfolder.lock_to_write(folder):
        return _train(cfg, callbacks, out_dir, resume, data, progress, label)


def _train(
    cfg: Config | None,
    callbacks,
    out_dir: str | Path | None,
    resume: str | Path | None,
    data: TokenData | None,
    progress: bool,
    label: str | None,
) -> History:
    if resume is None:
        if cfg is None:
            raise ConfigError("train() needs a config (e.g. slmlab.presets.preset('smoke')) or resume=DIR")
        return Trainer(cfg, data=data, callbacks=callbacks, out_dir=out_dir, progress=progress, label=label).run()
    ckpt = checkpoint.load_to_resume(resume)  # refused if another number of processes trained it
    saved = Config.from_dict(ckpt["config"])
    if cfg is not None and cfg.replace(vocab_size=saved.model.vocab_size).to_dict() != saved.to_dict():
        given, was = {"name": cfg.name, **cfg.flat()}, {"name": saved.name, **saved.flat()}
        diff = [k for k, v in given.items() if k != "vocab_size" and was[k] != v]
        raise ConfigError(
            f"resume={resume}: the given config differs from the saved one in "
            f"{', '.join(diff)}; pass cfg=None to resume as saved, or start a new run"
        )
    trainer = Trainer(saved, data=data, callbacks=callbacks, out_dir=out_dir or resume, progress=progress, label=label)
    checkpoint.restore(trainer, ckpt)
    return trainer.run()
