"""Training: `train(cfg) -> History`, and the Trainer behind it.

What the student's notebook got wrong is impossible here by construction:
- the schedule is a function of the optimizer update (`lr_at`), never of the
  micro-step: linear warmup from near 0, then cosine down to min_lr, and
  min_lr > lr is refused by `config.validate`;
- weight decay goes on matmul weights and embeddings only (`configure_optimizer`);
- gradients are clipped after the GradScaler unscales them;
- `eval_interval` (updates between evals) and `eval_batches` (batches per
  eval) are two numbers; `block_size` is one number for model and data;
- a checkpoint holds model, optimizer, scaler, step, RNG and sampler state,
  so `train(resume=DIR)` continues exactly as if never stopped.

The loop talks to the outside through `Callback`s (diagnostics, live plots,
widgets plug in there); it knows no plots and no widgets. Run folders:
config.json, env.json, history.jsonl, ckpt.pt (latest), best.pt (best val).
"""

from __future__ import annotations

import math
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import files
from .config import Config, ConfigError, TrainConfig, validate
from .data import BatchSampler, TokenData, check_block_size, prepare
from .device import Device, setup
from .model import GPT

__all__ = ["History", "Callback", "TimeLimit", "Trainer", "train", "lr_at", "configure_optimizer",
           "load_checkpoint", "load_model"]

CKPT_VERSION = 1


# ---------------------------------------------------------------------------
# History: what a run leaves behind


@dataclass
class History:
    """Per-step and per-eval records of one run (the rows of history.jsonl)."""

    steps: list[dict] = field(default_factory=list)  # kind=step: step, loss, lr, grad_norm, tokens, seconds
    evals: list[dict] = field(default_factory=list)  # kind=eval: step, train_loss, val_loss, tokens, seconds
    config: dict = field(default_factory=dict)  # Config.to_dict()
    meta: dict = field(default_factory=dict)  # vocab_size, entropy_floor, device, ...
    stop_reason: str | None = None  # None: ran to max_steps; else early_stop, nan, stopped

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of `key` from the step records, or the eval records."""
        rows = self.steps if self.steps and key in self.steps[0] else self.evals
        rows = [r for r in rows if key in r]
        return (np.array([r["step"] for r in rows], dtype=np.int64),
                np.array([r[key] for r in rows], dtype=np.float64))

    def best_val(self) -> tuple[int, float] | None:
        """(step, val_loss) of the lowest val loss, or None before any eval."""
        good = [e for e in self.evals if math.isfinite(e["val_loss"])]
        if not good:
            return None
        best = min(good, key=lambda e: e["val_loss"])
        return best["step"], best["val_loss"]

    def final_val(self) -> float | None:
        return self.evals[-1]["val_loss"] if self.evals else None

    @property
    def label(self) -> str:
        return self.meta.get("label") or self.config.get("name", "run")

    # --- history.jsonl: one JSON object per line
    def rows(self) -> list[dict]:
        head = {"kind": "meta", "config": self.config, "meta": self.meta, "stop_reason": self.stop_reason}
        merged = sorted(self.steps + self.evals, key=lambda r: (r["step"], r["kind"] == "eval"))
        return [head, *merged]

    def save(self, path: str | Path) -> None:
        files.write_jsonl(path, self.rows())

    @classmethod
    def load(cls, path: str | Path) -> History:
        h = cls()
        for row in files.read_jsonl(path):
            kind = row.get("kind")
            if kind == "meta":
                h.config, h.meta, h.stop_reason = row["config"], row["meta"], row.get("stop_reason")
            elif kind == "step":
                h.steps.append(row)
            elif kind == "eval":
                h.evals.append(row)
        return h

    def state(self) -> dict:
        return {"steps": self.steps, "evals": self.evals, "config": self.config,
                "meta": self.meta, "stop_reason": self.stop_reason}


# ---------------------------------------------------------------------------
# Callbacks: how diagnostics, plots and widgets watch a run


class Callback:
    """Override what you need. `trainer.step` counts finished optimizer updates.

    Order inside one update: the schedule sets the lr -> on_step_start (may set
    another lr in trainer.optimizer.param_groups; the lr used is what the history
    records) -> forward/backward of every micro-batch
    -> on_after_backward (gradients unscaled, clipped, still there) -> optimizer step
    -> on_update. Records reach on_step_end in batches at log intervals (that is
    when the loop syncs with the device), each with its own step number.
    """

    def on_train_start(self, trainer: Trainer) -> None: ...
    def on_step_start(self, trainer: Trainer) -> None: ...
    def on_after_backward(self, trainer: Trainer) -> None: ...
    def on_update(self, trainer: Trainer) -> None: ...
    def on_step_end(self, trainer: Trainer, record: dict) -> None: ...
    def on_eval(self, trainer: Trainer, record: dict) -> None: ...
    def on_train_end(self, trainer: Trainer) -> None: ...


class TimeLimit(Callback):
    """Stop a run after `seconds` of wall time (stop_reason "time"): equal-time comparisons."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._t0 = 0.0

    def on_train_start(self, trainer: Trainer) -> None:
        self._t0 = time.perf_counter()

    def on_update(self, trainer: Trainer) -> None:
        if time.perf_counter() - self._t0 >= self.seconds:
            trainer.request_stop("time")


# ---------------------------------------------------------------------------
# Schedule and optimizer


def lr_at(step: int, tcfg: TrainConfig) -> float:
    """The learning rate for optimizer update `step` (0-based).

    Linear warmup from lr/(warmup_steps+1) up to lr, then a cosine from lr at
    warmup_steps down to min_lr at max_steps.
    """
    if step < tcfg.warmup_steps:
        return tcfg.lr * (step + 1) / (tcfg.warmup_steps + 1)
    if step >= tcfg.max_steps:
        return tcfg.min_lr
    progress = (step - tcfg.warmup_steps) / (tcfg.max_steps - tcfg.warmup_steps)  # 0 -> 1
    return tcfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (tcfg.lr - tcfg.min_lr)


def decay_groups(model: torch.nn.Module) -> tuple[list, list]:
    """(decayed, not decayed): matmul weights and embeddings decay; norms and biases don't."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    decay = [p for p in params.values() if p.dim() >= 2]
    no_decay = [p for p in params.values() if p.dim() < 2]
    return decay, no_decay


def configure_optimizer(model: torch.nn.Module, tcfg: TrainConfig, device: Device) -> torch.optim.AdamW:
    """AdamW with decay groups; fused kernels on CUDA and CPU, foreach elsewhere.

    The fused CPU kernel (torch >= 2.4) steps the 4x128 model 3.5x faster than
    foreach and the 6x384 one 4x faster (`python -m slmlab bench` notes).
    """
    decay, no_decay = decay_groups(model)
    groups = [{"params": decay, "weight_decay": tcfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    kw = {"lr": tcfg.lr, "betas": (tcfg.beta1, tcfg.beta2)}
    if device.type in ("cuda", "cpu"):
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
# Checkpoints


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely (weights_only); damaged files give one clear line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first or check the run folder")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"checkpoint {path} is damaged or not an slmlab checkpoint "
                         f"({type(e).__name__}); delete it and train again") from None
    if not isinstance(ckpt, dict) or ckpt.get("version") != CKPT_VERSION or "model" not in ckpt:
        raise ValueError(f"checkpoint {path} is not an slmlab v{CKPT_VERSION} checkpoint; "
                         f"delete it and train again")
    return ckpt


def load_model(run_dir: str | Path, which: str = "ckpt") -> tuple[GPT, Config]:
    """The trained model of a run folder (which: 'ckpt' latest, 'best' best val)."""
    ckpt = load_checkpoint(Path(run_dir) / f"{which}.pt")
    cfg = Config.from_dict(ckpt["config"])
    model = GPT(cfg.model)
    model.load_state_dict(ckpt["model"])
    return model.eval(), cfg


# ---------------------------------------------------------------------------
# The Trainer


class Trainer:
    """Owns model, optimizer, data and the loop for one run."""

    def __init__(self, cfg: Config, *, data: TokenData | None = None, callbacks=(),
                 out_dir: str | Path | None = None, progress: bool = True):
        validate(cfg)
        self.data = data if data is not None else prepare(cfg.data)
        cfg = self._with_vocab(cfg)
        check_block_size(self.data, cfg.model.block_size)
        self.cfg, self.callbacks, self.progress = cfg, list(callbacks), progress
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.device = setup(cfg.train.device, cfg.train.dtype)
        torch.manual_seed(cfg.train.seed)
        self.model = GPT(cfg.model).to(self.device.torch_device)
        self.step_model = compile_model(self.model, self.device) if cfg.train.compile else self.model
        self.optimizer = configure_optimizer(self.model, cfg.train, self.device)
        self.scaler = self.device.grad_scaler()
        t, B = cfg.train, cfg.train.micro_batch_size
        self.sampler = BatchSampler(self.data.train, cfg.model.block_size, B, t.seed, self.device.type)
        self.step = 0
        self.seconds_before = 0.0  # wall time of earlier sessions of a resumed run
        self.best_val, self.evals_since_best = math.inf, 0
        self.best_state: dict | None = None
        self.history = History(config=cfg.to_dict(), meta=self._meta())
        self._stop_reason: str | None = None
        self._lock = threading.Lock()

    def _with_vocab(self, cfg: Config) -> Config:
        v = self.data.vocab_size
        if cfg.model.vocab_size is None:
            return cfg.replace(vocab_size=v)
        if cfg.model.vocab_size < v:
            raise ConfigError(f"vocab_size={cfg.model.vocab_size} is smaller than the tokenizer's "
                              f"{v}; leave vocab_size unset (None) to take it from the tokenizer")
        return cfg

    def _meta(self) -> dict:
        m = self.data.manifest
        return {
            "vocab_size": self.cfg.model.vocab_size, "corpus": m.get("corpus"),
            "tokenizer": m.get("tokenizer"), "entropy_floor": m.get("entropy_floor"),
            "val_bytes_per_token": self.data.val_bytes_per_token,
            "n_train_tokens": int(len(self.data.train)), "n_val_tokens": int(len(self.data.val)),
            "n_params": self.model.num_params(),
            "n_params_non_embedding": self.model.num_params(non_embedding=True),
            "flops_per_token": self.model.flops_per_token(),
            "tokens_per_step": self.cfg.tokens_per_step,
            "device": self.device.type, "dtype": self.device.dtype_name, "threads": self.device.threads,
        }

    # --- control from outside (widgets' Stop button, Ctrl-C)

    def request_stop(self, reason: str = "stopped") -> None:
        """Ask the loop to end after the current update (thread-safe)."""
        with self._lock:
            self._stop_reason = self._stop_reason or reason

    @property
    def stop_requested(self) -> bool:
        return self._stop_reason is not None

    def _emit(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    # --- one optimizer update

    def _set_lr(self) -> None:
        """The schedule's lr for this update (lr_at), into every parameter group."""
        lr = lr_at(self.step, self.cfg.train)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _update(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Forward/backward over grad_accum_steps micro-batches, clip, step. No host sync."""
        t = self.cfg.train
        lr = self.optimizer.param_groups[0]["lr"]  # set by _set_lr (or a callback) just before
        loss_sum = torch.zeros((), device=self.device.torch_device)
        for _ in range(t.grad_accum_steps):
            x, y = self.sampler.next()  # (B, T), (B, T)
            with self.device.autocast():
                _, loss = self.step_model(x, y)
            loss = loss / t.grad_accum_steps  # the mean over all micro-batches, not their sum
            self.scaler.scale(loss).backward()
            loss_sum += loss.detach()
        self.scaler.unscale_(self.optimizer)  # clip the true gradient, not the scaled one
        clip = t.grad_clip if t.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self._emit("on_after_backward")
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self._emit("on_update")
        return loss_sum, grad_norm, lr

    # --- evaluation

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Mean loss on eval_batches batches of train and of val (the same batches every eval)."""
        self.model.eval()
        out = {}
        for split, tokens in (("train", self.data.train), ("val", self.data.val)):
            sampler = BatchSampler(tokens, self.cfg.model.block_size, self.cfg.train.micro_batch_size,
                                   seed=12345, device=self.device.type)
            losses = torch.zeros(self.cfg.train.eval_batches, device=self.device.torch_device)
            for i in range(self.cfg.train.eval_batches):
                x, y = sampler.next()
                with self.device.autocast():
                    _, loss = self.step_model(x, y)
                losses[i] = loss.float()  # stays on the device: one sync per split, below
            out[f"{split}_loss"] = losses.mean().item()
        self.model.train()
        return out

    def _eval_and_record(self) -> dict:
        rec = {"kind": "eval", "step": self.step, **self.evaluate(),
               "tokens": self.step * self.cfg.tokens_per_step, "seconds": self._seconds()}
        self.history.evals.append(rec)
        self._track_best(rec["val_loss"])
        self._emit("on_eval", rec)
        if self.out_dir is not None:
            self.save()
        return rec

    def _track_best(self, val: float) -> None:
        if val < self.best_val:
            self.best_val, self.evals_since_best = val, 0
            self.best_state = {k: v.detach().clone().cpu() for k, v in self.model.state_dict().items()}
            if self.out_dir is not None:
                files.atomic_torch_save({"version": CKPT_VERSION, "model": self.best_state,
                                         "config": self.cfg.to_dict(), "step": self.step,
                                         "val_loss": val}, self.out_dir / "best.pt")
        else:
            self.evals_since_best += 1
        patience = self.cfg.train.early_stop_patience
        if patience and self.evals_since_best >= patience:
            self.request_stop("early_stop")

    def load_best(self) -> None:
        """Put the best-val weights (kept at each new best) back into the model."""
        if self.best_state is None:
            raise RuntimeError("no evaluation has run yet, so there is no best checkpoint")
        self.model.load_state_dict(self.best_state)

    def _seconds(self) -> float:
        return self.seconds_before + (time.perf_counter() - self._t0)

    # --- the loop

    def run(self) -> History:
        t = self.cfg.train
        self._t0 = time.perf_counter()
        self._start_run_dir()
        self._emit("on_train_start")
        bar = self._progress_bar()
        pending: list[tuple[int, torch.Tensor, torch.Tensor, float]] = []
        try:
            while self.step < t.max_steps and not self.stop_requested:
                self._set_lr()
                self._emit("on_step_start")  # may change the lr: what is used is recorded
                loss, gnorm, lr = self._update()
                pending.append((self.step, loss, gnorm, lr))
                at_eval = self.step % t.eval_interval == 0 or self.step == t.max_steps
                if self.step % t.log_interval == 0 or at_eval:
                    self._flush(pending, bar)
                    pending = []
                if at_eval and not self.stop_requested:
                    self._eval_and_record()
        except KeyboardInterrupt:
            self.request_stop("stopped")
        finally:
            self._flush(pending, bar)
            if bar is not None:
                bar.close()
        return self._finish()

    def _flush(self, pending: list, bar) -> None:
        """Sync with the device once: turn pending tensors into step records."""
        if not pending:
            return
        losses = torch.stack([p[1] for p in pending]).float().cpu().tolist()
        norms = torch.stack([p[2] for p in pending]).float().cpu().tolist()
        secs = self._seconds()
        for (step, _, _, lr), loss, gn in zip(pending, losses, norms):
            rec = {"kind": "step", "step": step, "loss": loss, "lr": lr, "grad_norm": gn,
                   "tokens": step * self.cfg.tokens_per_step, "seconds": secs}
            self.history.steps.append(rec)
            self._emit("on_step_end", rec)
            if not math.isfinite(loss):
                self.request_stop("nan")
        if bar is not None:
            bar.update(pending[-1][0] - bar.n)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{pending[-1][3]:.2e}")
        pending.clear()

    def _finish(self) -> History:
        reason = self._stop_reason
        if reason == "nan":
            bad = self.history.steps[-1]
            self.history.meta["stop_message"] = (
                f"loss became {bad['loss']} at step {bad['step']} (lr {bad['lr']:.2e}, grad norm "
                f"{bad['grad_norm']:.3g}): lower lr, keep grad_clip on, or use a longer warmup")
        elif reason == "time" and (not self.history.evals or self.history.evals[-1]["step"] != self.step):
            self._eval_and_record()  # a time-boxed run ends with its own evaluation
        self.history.stop_reason = reason
        self.history.meta["seconds"] = self._seconds()
        if self.out_dir is not None and reason == "nan":  # ckpt.pt keeps the last finite weights
            self.history.save(self.out_dir / "history.jsonl")
        elif self.out_dir is not None:
            self.save()
        self._emit("on_train_end")
        return self.history

    def _progress_bar(self):
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.cfg.train.max_steps, initial=self.step, desc=self.cfg.name,
                    unit="step", leave=False)

    # --- run folder, checkpoint and resume

    def _start_run_dir(self) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        files.write_json(self.out_dir / "config.json", self.cfg.to_dict())
        files.write_json(self.out_dir / "env.json", environment(self.device))

    def state_dict(self) -> dict:
        return {
            "version": CKPT_VERSION, "config": self.cfg.to_dict(), "step": self.step,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(), "sampler": self.sampler.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "history": self.history.state(), "seconds": self._seconds(),
            "best_val": self.best_val, "evals_since_best": self.evals_since_best,
        }

    def save(self) -> None:
        """Write ckpt.pt and history.jsonl atomically."""
        files.atomic_torch_save(self.state_dict(), self.out_dir / "ckpt.pt")
        self.history.save(self.out_dir / "history.jsonl")

    def load_state_dict(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.sampler.load_state_dict(ckpt["sampler"])
        torch.set_rng_state(ckpt["rng_cpu"])
        if ckpt["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["rng_cuda"])
        self.step, self.seconds_before = ckpt["step"], ckpt["seconds"]
        self.best_val, self.evals_since_best = ckpt["best_val"], ckpt["evals_since_best"]
        h = ckpt["history"]
        self.history = History(steps=h["steps"], evals=h["evals"], config=h["config"],
                               meta=h["meta"], stop_reason=None)
        best = Path(self.out_dir or "") / "best.pt"
        if self.out_dir is not None and best.is_file():
            self.best_state = load_checkpoint(best)["model"]


def environment(device: Device) -> dict:
    """What a run ran on, for env.json."""
    return {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
            "platform": platform.platform(), "device": str(device), "time": time.strftime("%Y-%m-%d %H:%M:%S")}


# ---------------------------------------------------------------------------


def train(cfg: Config | None = None, *, callbacks=(), out_dir: str | Path | None = None,
          resume: str | Path | None = None, data: TokenData | None = None,
          progress: bool = True) -> History:
    """Train a GPT; return its History. resume=DIR continues the run saved in DIR."""
    if resume is None:
        if cfg is None:
            raise ConfigError("train() needs a config (e.g. slmlab.config.preset('smoke')) or resume=DIR")
        return Trainer(cfg, data=data, callbacks=callbacks, out_dir=out_dir, progress=progress).run()
    ckpt = load_checkpoint(Path(resume) / "ckpt.pt")
    saved = Config.from_dict(ckpt["config"])
    if cfg is not None and cfg.replace(vocab_size=saved.model.vocab_size).to_dict() != saved.to_dict():
        diff = [k for k, v in cfg.flat().items() if k != "vocab_size" and saved.flat()[k] != v]
        raise ConfigError(f"resume={resume}: the given config differs from the saved one in "
                          f"{', '.join(diff)}; pass cfg=None to resume as saved, or start a new run")
    trainer = Trainer(saved, data=data, callbacks=callbacks, out_dir=out_dir or resume, progress=progress)
    trainer.load_state_dict(ckpt)
    return trainer.run()
