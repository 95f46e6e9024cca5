"""Data-parallel training over several processes: what `torchrun ... -m slmlab train` needs.

Holds
- `Dist`: where this process stands in a run (rank, local_rank, world_size, backend);
- `init(device_kind)`: joins the process group that torchrun describes in the
  environment (WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR/PORT):
  nccl on CUDA, one GPU per LOCAL_RANK; gloo on CPU, cores shared among the
  machine's ranks. Its timeout (SLMLAB_DDP_TIMEOUT seconds, default TIMEOUT_S) makes
  a run whose peer died or hangs end with an error instead of hanging too. Alone (a notebook, a
  plain `python -m slmlab train`, torchrun with one process) it returns None and
  nothing of this module runs: one process trains exactly as it always did;
- `wrap(model, dist, device)`: DistributedDataParallel around the model;
- the collectives the trainer calls: `mean_over_ranks` (losses), `barrier`, `agree_stop` (all
  ranks end at the same update, for the same reason), `gather_rng` (every rank's
  dropout stream, for exact resume);
- `PeerLost` and `peer_errors(dist)`: a lost peer as one clear line;
- `batch_text(cfg, dist)`: the log's line about the global batch; `close()` and
  `session()` (leave the process group at the end, or at once after an error).

The loop that calls these is slmlab.train's; which windows each rank trains on is
slmlab.data.BatchSampler's (one seeded global batch, each rank its slice). Of slmlab
it imports only config and device.
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .config import Config, ConfigError

__all__ = ["Dist", "init", "wrap", "mean_over_ranks", "agree_stop", "barrier", "gather_rng", "PeerLost",
           "peer_errors", "batch_text", "close", "session", "world_size", "world_size_from_env",
           "is_main_process", "TIMEOUT_S"]

# Seconds a collective waits for a peer before the run ends with an error. The longest honest
# waits are a first step under torch.compile and rank 0 saving a large checkpoint.
TIMEOUT_S = 600


@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run."""

    rank: int  # 0 .. world_size-1; rank 0 writes the run folder and prints
    local_rank: int  # rank on this machine: the GPU it uses
    world_size: int  # processes in the run, on all machines
    local_world_size: int  # processes on this machine (they share its cores)
    backend: str  # "nccl" (CUDA) or "gloo" (CPU)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device_index(self, kind: str) -> int | None:
        """The GPU of this rank on CUDA; None on CPU."""
        return self.local_rank if kind == "cuda" else None

    def threads(self) -> int:
        """Intra-op threads per rank: $SLMLAB_THREADS, else this machine's cores split among its ranks."""
        from .device import default_threads

        if os.environ.get("SLMLAB_THREADS"):
            return default_threads()
        return max(1, default_threads() // self.local_world_size)


# ---------------------------------------------------------------------------
# Joining and leaving


def world_size_from_env() -> int:
    """How many processes torchrun started for this run (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def world_size() -> int:
    """Processes in this run: the joined process group's, else torchrun's environment's."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return world_size_from_env()


def is_main_process() -> bool:
    """Rank 0, or a process on its own (read from the environment, before init)."""
    return int(os.environ.get("RANK", "0")) == 0


def init(device_kind: str) -> Dist | None:
    """Join the run torchrun described (or the process group already joined); None when alone."""
    if dist.is_available() and dist.is_initialized():
        return _current()
    if world_size_from_env() <= 1:
        return None
    if not dist.is_available():
        raise RuntimeError("torch was built without torch.distributed; run one process "
                           "(python -m slmlab train) or install a torch with it")
    if device_kind not in ("cuda", "cpu"):
        raise ConfigError(f"device={device_kind!r}: torchrun training runs on CUDA (nccl) or CPU (gloo); "
                          f"use --set device=cpu, or run one process")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    kwargs = {"backend": "nccl" if device_kind == "cuda" else "gloo",
              "timeout": datetime.timedelta(seconds=float(os.environ.get("SLMLAB_DDP_TIMEOUT", TIMEOUT_S)))}
    if device_kind == "cuda":
        _use_gpu(local_rank)
        if "device_id" in inspect.signature(dist.init_process_group).parameters:  # torch >= 2.3
            kwargs["device_id"] = torch.device("cuda", local_rank)  # nccl knows its GPU from the start
    dist.init_process_group(**kwargs)
    return _current()


def _use_gpu(local_rank: int) -> None:
    n = torch.cuda.device_count()
    if local_rank >= n:
        raise RuntimeError(f"LOCAL_RANK {local_rank} but this machine shows {n} GPU(s); give torchrun "
                           f"--nproc_per_node={n} (at most one process per GPU)")
    torch.cuda.set_device(local_rank)


def _current() -> Dist | None:
    if dist.get_world_size() <= 1:
        return None
    world = dist.get_world_size()
    return Dist(rank=dist.get_rank(), local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
                world_size=world, local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", world)),
                backend=dist.get_backend())


def close(*, barrier: bool = True) -> None:
    """Leave the process group; after a barrier (barrier=True), so no rank leaves while others still talk."""
    if dist.is_available() and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def session():
    """Leave the process group the body joined (if any): after a barrier when it went well,
    at once after an error (a dead peer would never reach the barrier)."""
    try:
        yield
    except BaseException:
        close(barrier=False)
        raise
    close()


def wrap(model: torch.nn.Module, d: Dist | None, device) -> torch.nn.Module:
    """DistributedDataParallel around `model` (it broadcasts rank 0's weights); the model itself when alone.

    device: the run's slmlab.device.Device (its index names this rank's GPU).
    """
    if d is None:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None  # CPU: no device_ids
    return DDP(model, device_ids=ids)


# ---------------------------------------------------------------------------
# Collectives the trainer calls


def mean_over_ranks(t: torch.Tensor, d: Dist | None) -> torch.Tensor:
    """The mean of `t` over ranks (a copy; the same on every rank). gloo has no AVG: sum, then divide."""
    if d is None:
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / d.world_size


def barrier(d: Dist | None) -> None:
    """Wait for every rank (nothing when alone)."""
    if d is not None:
        dist.barrier()


def agree_stop(local, d: Dist):
    """The first stop request of any rank, in rank order, the same on every rank; None if none asked."""
    everyone = [None] * d.world_size
    dist.all_gather_object(everyone, local)
    return next((s for s in everyone if s is not None), None)


def gather_rng(d: Dist) -> list[dict] | None:
    """Every rank's RNG states (dropout streams), gathered on rank 0 (None on the others)."""
    mine = {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if d.backend == "nccl" else torch.empty(0, dtype=torch.uint8)}
    everyone = [None] * d.world_size if d.is_main else None
    dist.gather_object(mine, everyone, dst=0)
    return everyone


# ---------------------------------------------------------------------------
# Failures and the log


class PeerLost(RuntimeError):
    """Another process of the run died or stopped answering."""


@contextlib.contextmanager
def peer_errors(d: Dist | None):
    """Turn a failed collective into PeerLost: one line that says what happened and what to look at."""
    if d is None:
        yield
        return
    try:
        yield
    except RuntimeError as e:  # torch.distributed.DistError is one; older gloo raised plain ones
        if isinstance(e, PeerLost) or not _is_collective_error(e):
            raise
        raise PeerLost(f"rank {d.rank} of {d.world_size} lost contact with the other processes "
                       f"({_gist(e)}); another rank died, was killed or hangs: its own error is "
                       f"in its log (torchrun prints which rank failed first)") from e


def _gist(e: BaseException) -> str:
    """'Connection closed by peer [127.0.0.1]:36069': the first sentence, without gloo's source file."""
    text = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", str(e).strip())
    first = re.split(r"(?<=\S)\.\s|\n", text, maxsplit=1)[0] if text else type(e).__name__
    return first[:200]


def _is_collective_error(e: BaseException) -> bool:
    if hasattr(dist, "DistError") and isinstance(e, dist.DistError):
        return True
    text = str(e).lower()
    return any(w in text for w in ("gloo", "nccl", "connection closed", "connection reset", "timed out"))


def batch_text(cfg: Config, d: Dist) -> str:
    """'ddp: 2 processes (gloo); global batch = 8 micro_batch_size x 2 grad_accum_steps x 2 processes = ...'"""
    t = cfg.train
    seqs = t.micro_batch_size * t.grad_accum_steps * d.world_size
    return (f"ddp: {d.world_size} processes ({d.backend}); global batch = {t.micro_batch_size} "
            f"micro_batch_size x {t.grad_accum_steps} grad_accum_steps x {d.world_size} processes "
            f"= {seqs} sequences = {seqs * cfg.model.block_size:,} tokens per update")
