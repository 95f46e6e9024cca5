"""Checkpoints and the run folder: what a run writes so it can be resumed, reloaded and checked.

Holds
- `CKPT_VERSION` and the checkpoint format: `trainer_state(trainer)` (model,
  optimizer, scaler, sampler, step, RNG, history, seconds: everything exact resume
  needs) and `restore(trainer, ckpt)`; `best_state` (weights, config, step, val loss:
  best.pt);
- `load_checkpoint(path)`: torch.load with weights_only=True, so a pickled object is
  refused, never run; a damaged file is one clear line;
- `load_model(run_dir, which)`: the trained GPT and Config of a run folder;
- the rest of the folder: `start_run_dir` (config.json, env.json) and `environment()`.

A run folder holds config.json, env.json, history.jsonl, ckpt.pt (latest) and
best.pt (best val), named in slmlab.runfolder (which also locks it while a run trains);
every file is written atomically (slmlab.files). The loop
that decides when to save is slmlab.train's; under torchrun only rank 0 saves. The
trainer is typed by what is read of it: slmlab.callbacks.TrainerView for best.pt, and
`ResumableTrainer` (that view plus the sampler, scaler and past seconds) for resume.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import files, runfolder
from .config import Config
from .device import Device
from .history import History
from .model import GPT

if TYPE_CHECKING:
    from typing import Protocol

    from .callbacks import TrainerView  # callbacks imports this module: for types only
    from .data import BatchSampler

    class ResumableTrainer(TrainerView, Protocol):
        """What a checkpoint saves and puts back beyond a callback's view of the trainer."""

        scaler: torch.amp.GradScaler
        sampler: BatchSampler
        seconds_before: float  # a resumed run's wall time from earlier sessions


__all__ = [
    "CKPT_VERSION",
    "trainer_state",
    "restore",
    "best_state",
    "save",
    "load_checkpoint",
    "load_to_resume",
    "load_model",
    "start_run_dir",
    "environment",
]

CKPT_VERSION = 1


def trainer_state(trainer: ResumableTrainer, ranks: list[dict] | None = None) -> dict:
    """Everything exact resume needs, as tensors and plain types (loadable with weights_only).

    ranks: under torchrun, every rank's RNG states (slmlab.distributed.Dist.gather_rng); the
    checkpoint then also holds world_size, and only that many processes may resume it.
    Weights, optimizer and sampler are the same on every rank: rank 0's are saved.
    """
    state = {
        "version": CKPT_VERSION,
        "config": trainer.cfg.to_dict(),
        "step": trainer.step,
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "sampler": trainer.sampler.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "history": trainer.history.state(),
        "seconds": trainer.seconds(),
    }
    if ranks is not None:
        state.update(world_size=len(ranks), rng_by_rank=ranks)
    return state


def restore(trainer: ResumableTrainer, ckpt: dict) -> None:
    """Put a checkpoint back into a freshly built Trainer of the same config (and world size)."""
    trainer.model.load_state_dict(ckpt["model"])
    trainer.optimizer.load_state_dict(ckpt["optimizer"])
    trainer.scaler.load_state_dict(ckpt["scaler"])
    trainer.sampler.load_state_dict(ckpt["sampler"])
    if "rng_by_rank" in ckpt:  # torchrun: this rank's own stream
        mine = ckpt["rng_by_rank"][trainer.dist.rank]
        torch.set_rng_state(mine["cpu"])
        if mine["cuda"].numel():
            torch.cuda.set_rng_state(mine["cuda"])
    else:
        torch.set_rng_state(ckpt["rng_cpu"])
        if ckpt["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["rng_cuda"])
    trainer.step, trainer.seconds_before = ckpt["step"], ckpt["seconds"]
    trainer.history = History(**{**ckpt["history"], "stop_reason": None})


def best_state(trainer: TrainerView, val_loss: float) -> dict:
    """best.pt: the weights at a new best val, with what load_model needs."""
    return {
        "version": CKPT_VERSION,
        "model": trainer.model.state_dict(),
        "config": trainer.cfg.to_dict(),
        "step": trainer.step,
        "val_loss": val_loss,
    }


def save(trainer: ResumableTrainer, *, weights: bool = True, ranks: list[dict] | None = None) -> None:
    """ckpt.pt (unless weights=False) and history.jsonl into the trainer's run folder, atomically.
    ranks: every rank's RNG states under torchrun (see trainer_state)."""
    if weights:
        files.atomic_torch_save(trainer_state(trainer, ranks), trainer.out_dir / runfolder.CKPT)
    trainer.history.save(trainer.out_dir / runfolder.HISTORY)


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely (weights_only); damaged files give one clear line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first or check the run folder")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(
            f"checkpoint {path} is damaged or not an slmlab checkpoint ({type(e).__name__}); delete it and train again"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("version") != CKPT_VERSION or "model" not in ckpt:
        raise ValueError(f"checkpoint {path} is not an slmlab v{CKPT_VERSION} checkpoint; delete it and train again")
    return ckpt


def load_to_resume(run_dir: str | Path) -> dict:
    """The run folder's ckpt.pt, for resuming it in this launch: refused (one line) when another
    number of processes trained it, since that is another global batch (distributed.check_world_size)."""
    from .distributed import check_world_size  # distributed imports device and config only; no cycle

    ckpt = load_checkpoint(Path(run_dir) / runfolder.CKPT)
    check_world_size(ckpt.get("world_size", 1), run_dir)
    return ckpt


def load_model(run_dir: str | Path, which: str = "ckpt") -> tuple[GPT, Config]:
    """The trained model of a run folder (which: 'ckpt' latest, 'best' best val), in eval mode."""
    ckpt = load_checkpoint(Path(run_dir) / runfolder.weights(which))
    cfg = Config.from_dict(ckpt["config"])
    model = GPT(cfg.model)
    model.load_state_dict(ckpt["model"])
    return model.eval(), cfg


def start_run_dir(out_dir: Path, cfg: Config, device: Device) -> None:
    """Create the run folder with config.json and env.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files.write_json(out_dir / runfolder.CONFIG, cfg.to_dict())
    files.write_json(out_dir / runfolder.ENV, environment(device))


def environment(device: Device) -> dict:
    """What a run ran on, for env.json."""
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
