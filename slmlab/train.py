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

Holds the schedule and optimizer (`lr_at`, `decay_groups`, `configure_optimizer`,
`compile_model`), one optimizer update (`optimizer_update`, which the Trainer's
public `train_step()` and the health checks run), one evaluation (`evaluate_loss`
on fixed batches drawn with `EVAL_SEED`, which the Trainer, the health checks,
bench and notebooks use), and the `Trainer`, which is the loop only (under torchrun it
trains data-parallel; the process group and collectives are slmlab.distributed's). Records are
slmlab.history's, callbacks (time limit, early stopping, best.pt, progress bar)
slmlab.callbacks', checkpoints slmlab.checkpoint's, the run folder's names and lock
slmlab.runfolder's (`train` holds the lock while it writes a folder). It knows no plots
and no widgets: they plug in as callbacks.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch.nn.parallel import DistributedDataParallel

from . import checkpoint, distributed, optim, runfolder
from .callbacks import EarlyStopping, KeepBest, ProgressBar
from .config import Config, ConfigError, TrainConfig, validate
from .data import BatchSampler, TokenData, check_block_size, prepare
from .device import Device, bf16_native, pick_device, setup
from .history import NAN, STOPPED, TIME, History
from .model import GPT

__all__ = ["Trainer", "train", "StepResult", "lr_at", "decay_groups", "configure_optimizer",
           "compile_model", "optimizer_update", "evaluate_loss", "eval_batch_losses", "EVAL_SEED"]

EVAL_SEED = 12345  # every eval draws the same batches, so two evals differ only by the model


# ---------------------------------------------------------------------------
# Schedule and optimizer


def lr_at(step: int, tcfg: TrainConfig, progress: float | None = None) -> float:
    """The learning rate for optimizer update `step` (0-based).

    Linear warmup from lr/(warmup_steps+1) up to lr, then a cosine from lr at
    warmup_steps down to min_lr at max_steps. progress (0 -> 1) places a step after
    warmup on the cosine instead: a run with a time_budget passes the share of its
    post-warmup time spent (Trainer.schedule_progress), so its lr reaches min_lr when
    the time runs out, whatever the machine's speed.
    """
    if step < tcfg.warmup_steps:
        return tcfg.lr * (step + 1) / (tcfg.warmup_steps + 1)
    if progress is None:
        if step >= tcfg.max_steps:
            return tcfg.min_lr
        progress = (step - tcfg.warmup_steps) / (tcfg.max_steps - tcfg.warmup_steps)  # 0 -> 1
    progress = min(max(progress, 0.0), 1.0)
    return tcfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (tcfg.lr - tcfg.min_lr)


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
            raise ConfigError("optimizer='muon' found no 2-D weights inside model.blocks to give "
                              "Muon; use optimizer='adamw' for this model")
        ns_dtype = torch.bfloat16 if bf16_native(kind) else torch.float32
        muon = optim.Muon(hidden, lr=tcfg.muon_lr, weight_decay=tcfg.weight_decay, ns_dtype=ns_dtype,
                          lr_scale=tcfg.muon_lr / tcfg.lr)
        return optim.Optimizers(_adamw(rest, tcfg, kind), muon)
    return _adamw([p for p in model.parameters() if p.requires_grad], tcfg, kind)


def _adamw(params: list, tcfg: TrainConfig, kind: str) -> torch.optim.AdamW:
    decay, no_decay = decay_groups(params)
    groups = [{"params": decay, "weight_decay": tcfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
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
    elif device.type == "cpu" and not (shutil.which("g++") or shutil.which("c++")
                                       or shutil.which("clang++")):
        missing = "no C++ compiler (g++/clang++) is on PATH"
    elif device.type == "mps" or sys.platform == "win32":
        missing = f"torch.compile is not reliable on {device.type}/{sys.platform}"
    if missing:
        warnings.warn(f"compile=True ignored: {missing}; training eagerly", stacklevel=2)
        return model
    return torch.compile(model)


# ---------------------------------------------------------------------------
# One optimizer update, one evaluation


def optimizer_update(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]], *, accum_steps: int = 1,
                     autocast: Callable = contextlib.nullcontext, scaler: torch.amp.GradScaler | None = None,
                     grad_clip: float = 0.0, after_backward: Callable[[], None] | None = None,
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
    """DDP's no_sync() on a micro-step that must not all-reduce; nothing otherwise."""
    if sync or not isinstance(model, DistributedDataParallel):
        return contextlib.nullcontext()
    return model.no_sync()


@torch.no_grad()
def eval_batch_losses(model: torch.nn.Module, tokens, block_size: int, batch_size: int, n_batches: int,
                      device: Device | None = None, seed: int = EVAL_SEED, *, rank: int = 0,
                      world_size: int = 1) -> torch.Tensor:
    """The loss of each of n_batches batches drawn with `seed` (the same batches every call): (n_batches,).

    device: a Device, whose autocast the forward runs in; None: the model's device, float32.
    The model runs in eval mode (no dropout) and gets its own mode back afterwards.
    rank, world_size: under torchrun, this rank's slice of each batch of batch_size x world_size.
    """
    on = next(model.parameters()).device
    sampler = BatchSampler(tokens, block_size, batch_size, seed=seed, device=str(on), rank=rank,
                           world_size=world_size)
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


def evaluate_loss(model: torch.nn.Module, tokens, block_size: int, batch_size: int, n_batches: int,
                  device: Device | None = None, seed: int = EVAL_SEED) -> float:
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
    """Owns model, optimizer, data and the loop for one run; everything else plugs in as a callback.

    The config adds its own callbacks after the given ones: EarlyStopping
    (early_stop_patience > 0), KeepBest (with an out_dir) and ProgressBar (progress).

    Under torchrun (slmlab.distributed.init finds the process group in the environment) each
    rank trains a DistributedDataParallel copy on its slice of every global batch; only rank 0
    keeps the out_dir and the progress bar, so it alone writes the run folder and prints.
    """

    def __init__(self, cfg: Config, *, data: TokenData | None = None, callbacks=(),
                 out_dir: str | Path | None = None, progress: bool = True, label: str | None = None):
        validate(cfg)
        self.data = data if data is not None else prepare(cfg.data)
        self.cfg = cfg = _with_vocab(cfg, self.data.vocab_size)
        check_block_size(self.data, cfg.model.block_size)
        self.dist = d = distributed.init(pick_device(cfg.train.device))  # None: one process
        main = d is None or d.is_main
        self.out_dir = Path(out_dir) if out_dir is not None and main else None
        self.device = self._setup_device(cfg, d)
        torch.manual_seed(cfg.train.seed)
        model = GPT(cfg.model)
        if d is not None and d.rank > 0:
            torch.manual_seed(cfg.train.seed + d.rank)  # its own dropout; the weights are rank 0's (DDP)
        self.step = 0
        self.use_model(model)  # self.model, eval_model (compiled), step_model (DDP), optimizer
        self.scaler = self.device.grad_scaler()
        self._shard = {} if d is None else {"rank": d.rank, "world_size": d.world_size}
        self.sampler = BatchSampler(self.data.train, cfg.model.block_size, cfg.train.micro_batch_size,
                                    cfg.train.seed, str(self.device.torch_device), **self._shard)
        self.tokens_per_step = cfg.tokens_per_step * (d.world_size if d else 1)  # over all ranks
        self.callbacks = [*callbacks, *_stock_callbacks(cfg, self.out_dir, progress and main)]
        self.label = label
        self.step, self.seconds_before = 0, 0.0  # seconds_before: earlier sessions of a resumed run
        self.history = History(config=cfg.to_dict(), meta=_meta(cfg, self.data, self.model, self.device))
        if d is not None:
            self.history.meta.update(_ddp_meta(cfg, d))
        self._stop: tuple[str, bool] | None = None  # (reason, evaluate where it stopped)
        self._agreed_stop: tuple[str, bool] | None = None  # under torchrun: the stop all ranks agreed on
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._eval_seconds = 0.0  # how long the last eval took (a time_budget keeps that much for the last)

    # --- control from outside (callbacks, widgets' Stop button, Ctrl-C)

    def request_stop(self, reason: str = STOPPED, *, final_eval: bool = False) -> None:
        """Ask the loop to end after the current update (thread-safe; the first reason wins).
        final_eval: evaluate where it stopped (TimeLimit does, so its run ends with an eval)."""
        with self._lock:
            self._stop = self._stop or (reason, final_eval)

    @property
    def stop_requested(self) -> bool:
        return self._stop is not None

    def _ending(self) -> bool:
        """Whether the loop ends now. One process: a stop was requested. Under torchrun: the
        ranks pooled their requests at a log step or an eval (_agree_stop), so all end after the
        same update; a request takes effect there, up to log_interval updates later."""
        return self.stop_requested if self.dist is None else self._agreed_stop is not None

    def _agree_stop(self) -> None:
        """Under torchrun: every rank takes the first request of any rank (a collective; a no-op alone)."""
        if self.dist is None:
            return
        agreed = distributed.agree_stop(self._stop, self.dist)
        with self._lock:
            self._stop = self._agreed_stop = agreed

    @staticmethod
    def _setup_device(cfg: Config, d: distributed.Dist | None) -> Device:
        if d is None:
            return setup(cfg.train.device, cfg.train.dtype)
        kind = pick_device(cfg.train.device)
        return setup(cfg.train.device, cfg.train.dtype, d.threads(), d.device_index(kind))

    def seconds(self) -> float:
        """Wall time of this run so far, earlier sessions of a resumed run included."""
        return self.seconds_before + (time.perf_counter() - self._t0)

    def _emit(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    # --- one update, one evaluation

    def use_model(self, model: torch.nn.Module) -> None:
        """The model this Trainer trains: moved to its device, compiled (cfg.train.compile) and
        wrapped for DDP (under torchrun), with a fresh optimizer; evaluation, steps and
        checkpoints all use it. __init__ installs slmlab's GPT this way; called again before the
        first update it trains another model instead (notebook 02 trains the student's own)."""
        if self.step:
            raise RuntimeError("use_model() must come before the first update; build a new Trainer")
        self.model = model.to(self.device.torch_device)
        self.eval_model = compile_model(self.model, self.device) if self.cfg.train.compile else self.model
        self.step_model = distributed.wrap(self.eval_model, self.dist, self.device)
        self.optimizer = configure_optimizer(self.model, self.cfg.train, self.device)

    def schedule_progress(self) -> float | None:
        """With a time_budget, how far along the cosine the next update is (0 -> 1); None without one
        (lr_at then counts steps) and during warmup. The share of the time after warmup spent, less
        the time one eval takes (kept for the final eval); max_steps still ends the cosine, if sooner."""
        t = self.cfg.train
        if not t.time_budget or self.step < t.warmup_steps:
            return None
        now = self._shared_seconds()
        meta = self.history.meta
        meta.setdefault("warmup_end_seconds", now)  # kept in checkpoints: resume goes on
        start = meta["warmup_end_seconds"]
        by_time = (now - start) / max(t.time_budget - self._eval_seconds - start, 1e-9)
        by_steps = (self.step - t.warmup_steps) / (t.max_steps - t.warmup_steps)
        return max(by_time, by_steps)

    def _shared_seconds(self) -> float:
        """seconds(), under torchrun averaged over the ranks (one small all-reduce), so that every
        rank's time_budget schedule gives the same lr and the replicas stay equal."""
        if self.dist is None:
            return self.seconds()
        mine = torch.tensor([self.seconds()], dtype=torch.float64, device=self.device.torch_device)
        return distributed.mean_over_ranks(mine, self.dist).item()

    def _out_of_time(self) -> bool:
        """A time_budget run ends when what is left would not hold one more eval."""
        budget = self.cfg.train.time_budget
        return bool(budget) and self.seconds() + self._eval_seconds >= budget

    def train_step(self) -> StepResult:
        """One optimizer update: the schedule's lr, on_step_start, grad_accum_steps micro-batches,
        clip, step, on_update. No host sync (bench times exactly this)."""
        t = self.cfg.train
        optim.set_lr(self.optimizer, lr_at(self.step, t, self.schedule_progress()))
        self._emit("on_step_start")  # may change the lr: the one used is recorded
        lr = self.optimizer.param_groups[0]["lr"]
        loss, grad_norm = optimizer_update(
            self.step_model, self.optimizer, self.sampler.next, accum_steps=t.grad_accum_steps,
            autocast=self.device.autocast, scaler=self.scaler, grad_clip=t.grad_clip,
            after_backward=lambda: self._emit("on_after_backward"))
        self.step += 1
        self._emit("on_update")
        return StepResult(loss, grad_norm, lr)

    def evaluate(self) -> dict:
        """train_loss and val_loss: the mean loss on eval_batches fixed batches of each split
        (evaluate_loss's). Under torchrun each rank takes its slice of every batch and the
        losses are averaged over ranks: the numbers one process of the global batch gets."""
        t, T = self.cfg.train, self.cfg.model.block_size
        return {f"{split}_loss": distributed.mean_over_ranks(
                    eval_batch_losses(self.eval_model, tokens, T, t.micro_batch_size, t.eval_batches,
                                      self.device, **self._shard), self.dist).mean().item()
                for split, tokens in (("train", self.data.train), ("val", self.data.val))}

    # --- the loop

    def run(self) -> History:
        """Train to max_steps or a stop; a peer lost under torchrun ends it with PeerLost."""
        with distributed.peer_errors(self.dist):
            return self._run()

    def _run(self) -> History:
        t = self.cfg.train
        self._t0 = time.perf_counter()
        if self.out_dir is not None:
            checkpoint.start_run_dir(self.out_dir, self.cfg, self.device)
        if self.label:
            self.history.meta["label"] = self.label
        self._emit("on_train_start")
        pending: list[tuple[int, StepResult, float]] = []
        try:
            while self.step < t.max_steps and not self._ending():
                result = self.train_step()
                pending.append((self.step, result, self.seconds()))
                if self._out_of_time():
                    self.request_stop(TIME, final_eval=True)
                at_eval = self.step % t.eval_interval == 0 or self.step == t.max_steps
                if self.step % t.log_interval == 0 or at_eval:
                    self._flush(pending)
                    self._agree_stop()
                if at_eval and not self._ending():
                    self._eval_and_record()
                    if self._out_of_time():  # this eval was the last one the budget holds
                        self.request_stop(TIME, final_eval=True)
        except KeyboardInterrupt:
            if self.dist is not None:
                raise  # the other ranks may be inside a collective: no more of them here
            self.request_stop(STOPPED)
        except BaseException:
            if self.dist is None:
                self._flush(pending)  # the records so far stay in the history
            raise
        self._flush(pending)
        return self._finish()

    def _flush(self, pending: list) -> None:
        """Sync with the device once: turn pending results into step records."""
        if not pending:
            return
        losses = torch.stack([r.loss for _, r, _ in pending]).float()  # (n,) this rank's
        losses = distributed.mean_over_ranks(losses, self.dist).cpu().tolist()  # over all ranks
        norms = torch.stack([r.grad_norm for _, r, _ in pending]).float().cpu().tolist()  # DDP: the same on all
        records = [{"kind": "step", "step": step, "loss": loss, "lr": r.lr, "grad_norm": gn,
                    "tokens": step * self.tokens_per_step, "seconds": secs}
                   for (step, r, secs), loss, gn in zip(pending, losses, norms, strict=True)]
        pending.clear()
        self.history.steps.extend(records)
        self._emit("on_log", records)
        if not all(math.isfinite(x) for x in losses):
            self.request_stop(NAN)

    def _eval_and_record(self) -> None:
        t0 = time.perf_counter()
        rec = {"kind": "eval", "step": self.step, **self.evaluate(),
               "tokens": self.step * self.tokens_per_step, "seconds": self.seconds()}
        self._eval_seconds = time.perf_counter() - t0
        self.history.evals.append(rec)
        self._emit("on_eval", rec)
        self._agree_stop()  # under torchrun: a stop an on_eval callback asked for (early stopping) holds on all
        self._save()

    def _save(self, weights: bool = True) -> None:
        """ckpt.pt (unless weights=False) and history.jsonl, by the rank with the out_dir. Under
        torchrun every rank first sends rank 0 its RNG state (each has its own dropout stream)."""
        ranks = distributed.gather_rng(self.dist) if self.dist is not None and weights else None
        if self.out_dir is not None:
            checkpoint.save(self, weights=weights, ranks=ranks)

    def _finish(self) -> History:
        self._agree_stop()  # a request since the last log step (an on_eval callback) counts on every rank
        reason, final_eval = self._stop or (None, False)
        if reason == NAN:
            self.history.meta["stop_message"] = _nan_message(self.history)
        elif final_eval and (not self.history.evals or self.history.evals[-1]["step"] != self.step):
            self._eval_and_record()
        self.history.stop_reason = reason
        self.history.meta["seconds"] = self.seconds()
        self._save(weights=reason != NAN)  # after a NaN, ckpt.pt keeps the last finite weights
        self._emit("on_train_end")
        distributed.barrier(self.dist)  # under torchrun: no rank returns before rank 0 has saved
        return self.history


def _with_vocab(cfg: Config, vocab_size: int) -> Config:
    if cfg.model.vocab_size is None:
        return cfg.replace(vocab_size=vocab_size)
    if cfg.model.vocab_size < vocab_size:
        raise ConfigError(f"vocab_size={cfg.model.vocab_size} is smaller than the tokenizer's "
                          f"{vocab_size}; leave vocab_size unset (None) to take it from the tokenizer")
    return cfg


def _stock_callbacks(cfg: Config, out_dir: Path | None, progress: bool) -> list:
    own = [EarlyStopping(cfg.train.early_stop_patience)] if cfg.train.early_stop_patience else []
    own += [KeepBest()] if out_dir is not None else []
    return own + ([ProgressBar()] if progress else [])


def _meta(cfg: Config, data: TokenData, model: GPT, device: Device) -> dict:
    m = data.manifest
    return {
        "vocab_size": cfg.model.vocab_size, "corpus": m.get("corpus"), "tokenizer": m.get("tokenizer"),
        "entropy_floor": m.get("entropy_floor"), "val_bytes": m.get("val_bytes"),
        "val_bytes_per_token": data.val_bytes_per_token,
        "n_train_tokens": int(len(data.train)), "n_val_tokens": int(len(data.val)),
        "n_params": model.num_params(), "n_params_non_embedding": model.num_params(non_embedding=True),
        "flops_per_token": model.flops_per_token(), "tokens_per_step": cfg.tokens_per_step,
        "device": device.type, "dtype": device.dtype_name, "threads": device.threads,
    }


def _ddp_meta(cfg: Config, d: distributed.Dist) -> dict:
    """What a torchrun run adds to the meta: its ranks and the batch over all of them."""
    return {"world_size": d.world_size, "backend": d.backend,
            "global_batch": cfg.train.micro_batch_size * cfg.train.grad_accum_steps * d.world_size,
            "tokens_per_step": cfg.tokens_per_step * d.world_size}


def _nan_message(h: History) -> str:
    bad = next(r for r in h.steps if not math.isfinite(r["loss"]))
    return (f"loss became {bad['loss']} at step {bad['step']} (lr {bad['lr']:.2e}, grad norm "
            f"{bad['grad_norm']:.3g}): lower lr, keep grad_clip on, or use a longer warmup")


# ---------------------------------------------------------------------------


def train(cfg: Config | None = None, *, callbacks=(), out_dir: str | Path | None = None,
          resume: str | Path | None = None, data: TokenData | None = None,
          progress: bool = True, label: str | None = None) -> History:
    """Train a GPT; return its History. resume=DIR continues the run saved in DIR.
    label: the run's name in its history (meta["label"]), for plots and overlays.
    The run folder (out_dir, else resume) is locked while it trains: another live process
    training it is refused with one line (under torchrun rank 0 holds the lock: it writes)."""
    folder = out_dir if out_dir is not None else resume
    writes = folder is not None and distributed.is_main_process()
    with runfolder.lock(folder) if writes else contextlib.nullcontext():
        return _train(cfg, callbacks, out_dir, resume, data, progress, label)


def _train(cfg: Config | None, callbacks, out_dir: str | Path | None, resume: str | Path | None,
           data: TokenData | None, progress: bool, label: str | None) -> History:
    if resume is None:
        if cfg is None:
            raise ConfigError("train() needs a config (e.g. slmlab.config.preset('smoke')) or resume=DIR")
        return Trainer(cfg, data=data, callbacks=callbacks, out_dir=out_dir, progress=progress,
                       label=label).run()
    ckpt = checkpoint.load_checkpoint(Path(resume) / runfolder.CKPT)
    _check_world_size(ckpt.get("world_size", 1), resume)
    saved = Config.from_dict(ckpt["config"])
    if cfg is not None and cfg.replace(vocab_size=saved.model.vocab_size).to_dict() != saved.to_dict():
        given, was = {"name": cfg.name, **cfg.flat()}, {"name": saved.name, **saved.flat()}
        diff = [k for k, v in given.items() if k != "vocab_size" and was[k] != v]
        raise ConfigError(f"resume={resume}: the given config differs from the saved one in "
                          f"{', '.join(diff)}; pass cfg=None to resume as saved, or start a new run")
    trainer = Trainer(saved, data=data, callbacks=callbacks, out_dir=out_dir or resume, progress=progress,
                      label=label)
    checkpoint.restore(trainer, ckpt)
    return trainer.run()


def _check_world_size(saved: int, resume: str | Path) -> None:
    """Resume only with as many processes as trained the run: another number is another global batch."""
    now = distributed.world_size()
    if now == saved:
        return
    how = ("one process (python -m slmlab train --resume DIR, no torchrun)" if saved == 1 else
           f"{saved} processes (torchrun's --nnodes x --nproc_per_node = {saved})")
    raise ConfigError(f"resume={resume}: this run was trained by {saved} process(es), this is {now}; "
                      f"another number changes the global batch and the windows each rank reads, so "
                      f"it would not continue the same run: resume with {how}, or start a new run")
