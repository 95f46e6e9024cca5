"""Data-parallel training over several processes: what `torchrun ... -m slmlab train` needs.

`join(tcfg)` returns this process's place in a run and its device; the place is an object the
Trainer calls the same way whether it trains alone or with others, so the loop never asks which:
- `Alone()`: a notebook, a plain `python -m slmlab train`, torchrun with one process. Every
  method is a no-op or the identity: one process trains exactly as it always did.
- `Dist`: torchrun described a process group in the environment (WORLD_SIZE, RANK, LOCAL_RANK,
  LOCAL_WORLD_SIZE, MASTER_ADDR/PORT); `init` joins it: nccl on CUDA, one GPU per LOCAL_RANK;
  gloo on CPU, cores shared among the machine's ranks. Its timeout (SLMLAB_DDP_TIMEOUT
  seconds, default TIMEOUT_S) makes a run whose peer died or hangs end with an error instead
  of hanging too.
Both have, one for each point of the loop where ranks differ or talk: `is_main` (rank 0 writes
the run folder and prints), `shard` (this rank's slice of every batch), `meta` (what the history
records of the ranks), `wrap` (DistributedDataParallel; then each rank but 0 draws its own
dropout), `agreement` (an `Agreement`: when to stop and a time_budget's clock, the same on every
rank), `guard` (around the loop: a lost peer as one clear line, `PeerLost`; alone, Ctrl-C stops
the run), the collective `mean`, and `saving` (every rank's dropout stream gathered for exact
resume; no rank goes on before rank 0 has written). Under these: `setup_device`, `mean_clock`,
`agree_stop`, `gather_rng`, `barrier`. Every collective of Dist turns a lost peer into PeerLost.

Also here: `check_world_size` (resume only with as many processes as trained), `batch_text(cfg,
dist)` (the log's line about the global batch), `close()` and `session()` (leave the process
group at the end, or at once after an error).

The loop that calls these is slmlab.train's; which windows each rank trains on is
slmlab.data.BatchSampler's (one seeded global batch, each rank its slice). Of slmlab
it imports only config and device.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import inspect
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .config import Config, ConfigError, TrainConfig
from .device import Device, default_threads, pick_device, setup

__all__ = [
    "Alone",
    "Dist",
    "join",
    "init",
    "Agreement",
    "PeerLost",
    "check_world_size",
    "batch_text",
    "close",
    "session",
    "world_size",
    "world_size_from_env",
    "is_main_process",
    "TIMEOUT_S",
]

# Seconds a collective waits for a peer before the run ends with an error. The longest honest
# waits are a first step under torch.compile and rank 0 saving a large checkpoint.
TIMEOUT_S = 600


class _Ranks:
    """What Alone and Dist do alike, on top of their own methods."""

    def agreement(self, clock: Callable[[], float]) -> Agreement:
        """What the ranks must agree on besides the weights: when to stop, and `clock` read alike."""
        return Agreement(self, clock)

    @contextlib.contextmanager
    def saving(self, rng: bool = True):
        """Around a save by rank 0: yields every rank's RNG states (gather_rng; None alone, or with
        rng=False), and after the save waits for every rank, so none goes on before rank 0 has written."""
        yield self.gather_rng() if rng else None
        self.barrier()


class Alone(_Ranks):
    """One process on its own: the methods of Dist, each a no-op or the identity."""

    rank, world_size, is_main = 0, 1, True

    def setup_device(self, tcfg: TrainConfig) -> Device:
        return setup(tcfg.device, tcfg.dtype)

    def shard(self) -> dict:
        return {}  # BatchSampler's defaults: the whole batch

    def meta(self, cfg: Config) -> dict:
        return {}

    def wrap(self, model: torch.nn.Module, device: Device, seed: int | None = None) -> torch.nn.Module:
        return model

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def mean_clock(self, clock: Callable[[], float]) -> Callable[[], float]:
        return clock

    def agree_stop(self, local):
        return local

    def gather_rng(self) -> None:
        return None

    def barrier(self) -> None: ...

    @contextlib.contextmanager
    def guard(self, stop: Callable[[], None], keep: Callable[[], None]):
        """Around the loop: Ctrl-C ends the run where it is (stop(); the loop goes on to its end); any
        other error keeps the records so far (keep()) and rises."""
        try:
            yield
        except KeyboardInterrupt:
            stop()
        except BaseException:
            keep()
            raise


def _peers(collective):
    """A collective of Dist whose failure because a peer is lost rises as PeerLost."""

    @functools.wraps(collective)
    def call(self, *args, **kwargs):
        with self._peer_errors():
            return collective(self, *args, **kwargs)

    return call


@dataclass(frozen=True)
class Dist(_Ranks):
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
        if os.environ.get("SLMLAB_THREADS"):
            return default_threads()
        return max(1, default_threads() // self.local_world_size)

    def setup_device(self, tcfg: TrainConfig) -> Device:
        """slmlab.device.setup for this rank: its GPU, its share of the machine's cores."""
        return setup(tcfg.device, tcfg.dtype, self.threads(), self.device_index(pick_device(tcfg.device)))

    def shard(self) -> dict:
        """BatchSampler's and eval_batch_losses' keywords: this rank's slice of every global batch."""
        return {"rank": self.rank, "world_size": self.world_size}

    def meta(self, cfg: Config) -> dict:
        """What a torchrun run adds to the history's meta: its ranks and the batch over all of them."""
        return {
            "world_size": self.world_size,
            "backend": self.backend,
            "global_batch": cfg.train.micro_batch_size * cfg.train.grad_accum_steps * self.world_size,
            "tokens_per_step": cfg.tokens_per_step * self.world_size,
        }

    def wrap(self, model: torch.nn.Module, device: Device, seed: int | None = None) -> torch.nn.Module:
        """DistributedDataParallel around `model` (it broadcasts rank 0's weights); then each rank but 0
        draws its own dropout stream (torch's seed: seed + rank), rank 0 the one it has.
        device: the run's slmlab.device.Device (its index names this rank's GPU)."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None  # CPU: no device_ids
        ddp = DDP(model, device_ids=ids)
        if seed is not None and self.rank > 0:
            torch.manual_seed(seed + self.rank)
        return ddp

    # --- collectives: every rank calls each one at the same point of the loop

    @_peers
    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean of `t` over ranks (a copy; the same on every rank). gloo has no AVG: sum, then divide."""
        out = t.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out / self.world_size

    def mean_clock(self, clock: Callable[[], float]) -> Callable[[], float]:
        """A clock that reads the mean of every rank's `clock` (one small all-reduce per reading), so a
        time_budget's schedule gives every rank the same lr and the replicas stay equal."""
        on = torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")
        return lambda: self.mean(torch.tensor([clock()], dtype=torch.float64, device=on)).item()

    @_peers
    def agree_stop(self, local):
        """The first stop request of any rank, in rank order, the same on every rank; None if none asked."""
        everyone = [None] * self.world_size
        dist.all_gather_object(everyone, local)
        return next((s for s in everyone if s is not None), None)

    @_peers
    def gather_rng(self) -> list[dict] | None:
        """Every rank's RNG states (dropout streams), gathered on rank 0 (None on the others)."""
        mine = {
            "cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if self.backend == "nccl" else torch.empty(0, dtype=torch.uint8),
        }
        everyone = [None] * self.world_size if self.is_main else None
        dist.gather_object(mine, everyone, dst=0)
        return everyone

    @_peers
    def barrier(self) -> None:
        """Wait for every rank."""
        dist.barrier()

    # --- failures

    def guard(self, stop: Callable[[], None], keep: Callable[[], None]):
        """Around the loop: a failed collective (DDP's gradient all-reduce among them) rises as PeerLost.
        Ctrl-C and other errors rise as they are: the other ranks may be inside a collective, so this
        rank can take part in no more of them (no last eval, no records kept)."""
        return self._peer_errors()

    @contextlib.contextmanager
    def _peer_errors(self):
        """Turn a failed collective into PeerLost: one line that says what happened and what to look at."""
        try:
            yield
        except RuntimeError as e:  # torch.distributed.DistError is one; older gloo raised plain ones
            if isinstance(e, PeerLost) or not _is_collective_error(e):
                raise
            raise PeerLost(
                f"rank {self.rank} of {self.world_size} lost contact with the other processes "
                f"({_gist(e)}); another rank died, was killed or hangs: its own error is "
                f"in its log (torchrun prints which rank failed first)"
            ) from e


class Agreement:
    """What every rank must see the same, besides the weights (DDP keeps those equal): when the run
    ends, and the clock a time_budget's lr reads.

    clock: the mean of every rank's `clock` (Dist.mean_clock, one small all-reduce per reading;
    alone the clock itself), so every rank gets the same lr and the replicas stay equal.
    A stop: the first (reason, final_eval) asked wins, from any thread (a widget's Stop button, a
    callback, Ctrl-C). Alone it holds at once; under torchrun once the ranks agreed on it (agree(),
    a collective at log steps and evals), so all end after the same update for the same reason: a
    request takes effect up to log_interval updates later."""

    def __init__(self, ranks: Alone | Dist, clock: Callable[[], float]):
        self._ranks, self._lock = ranks, threading.Lock()
        self.clock = ranks.mean_clock(clock)
        self.asked: tuple[str, bool] | None = None  # (reason, evaluate where it stopped)
        self._agreed: tuple[str, bool] | None = None  # under torchrun: the one every rank took

    def request(self, reason: str, final_eval: bool) -> None:
        with self._lock:
            self.asked = self.asked or (reason, final_eval)

    def agree(self) -> None:
        """Every rank takes the first request of any rank (a collective; alone nothing changes)."""
        agreed = self._ranks.agree_stop(self.asked)
        with self._lock:  # a request since the gather waits for the next agreement
            self.asked = self._agreed = agreed or self.asked

    @property
    def holds(self) -> bool:
        """Whether the loop ends now."""
        return (self.asked if self._ranks.world_size == 1 else self._agreed) is not None


def check_world_size(saved: int, resume) -> None:
    """Resume only with as many processes as trained the run: another number is another global batch."""
    now = world_size()
    if now == saved:
        return
    how = (
        "one process (python -m slmlab train --resume DIR, no torchrun)"
        if saved == 1
        else f"{saved} processes (torchrun's --nnodes x --nproc_per_node = {saved})"
    )
    raise ConfigError(
        f"resume={resume}: this run was trained by {saved} process(es), this is {now}; "
        f"another number changes the global batch and the windows each rank reads, so "
        f"it would not continue the same run: resume with {how}, or start a new run"
    )


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


def join(tcfg: TrainConfig) -> tuple[Alone | Dist, Device]:
    """This process's place in the run (init: Alone(), or the torchrun process group, joined) and its
    device set up (slmlab.device.setup: under torchrun its GPU and its share of the cores)."""
    ranks = init(pick_device(tcfg.device))
    return ranks, ranks.setup_device(tcfg)


def init(device_kind: str) -> Alone | Dist:
    """Join the run torchrun described (or the process group already joined); Alone() when alone."""
    if dist.is_available() and dist.is_initialized():
        return _current()
    if world_size_from_env() <= 1:
        return Alone()
    if not dist.is_available():
        raise RuntimeError(
            "torch was built without torch.distributed; run one process "
            "(python -m slmlab train) or install a torch with it"
        )
    if device_kind not in ("cuda", "cpu"):
        raise ConfigError(
            f"device={device_kind!r}: torchrun training runs on CUDA (nccl) or CPU (gloo); "
            f"use --set device=cpu, or run one process"
        )
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    kwargs = {
        "backend": "nccl" if device_kind == "cuda" else "gloo",
        "timeout": datetime.timedelta(seconds=float(os.environ.get("SLMLAB_DDP_TIMEOUT", TIMEOUT_S))),
    }
    if device_kind == "cuda":
        _use_gpu(local_rank)
        if "device_id" in inspect.signature(dist.init_process_group).parameters:  # torch >= 2.3
            kwargs["device_id"] = torch.device("cuda", local_rank)  # nccl knows its GPU from the start
    dist.init_process_group(**kwargs)
    return _current()


def _use_gpu(local_rank: int) -> None:
    n = torch.cuda.device_count()
    if local_rank >= n:
        raise RuntimeError(
            f"LOCAL_RANK {local_rank} but this machine shows {n} GPU(s); give torchrun "
            f"--nproc_per_node={n} (at most one process per GPU)"
        )
    torch.cuda.set_device(local_rank)


def _current() -> Alone | Dist:
    if dist.get_world_size() <= 1:
        return Alone()
    world = dist.get_world_size()
    return Dist(
        rank=dist.get_rank(),
        local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
        world_size=world,
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", world)),
        backend=dist.get_backend(),
    )


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


# ---------------------------------------------------------------------------
# Failures and the log


class PeerLost(RuntimeError):
    """Another process of the run died or stopped answering."""


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
    return (
        f"ddp: {d.world_size} processes ({d.backend}); global batch = {t.micro_batch_size} "
        f"micro_batch_size x {t.grad_accum_steps} grad_accum_steps x {d.world_size} processes "
        f"= {seqs} sequences = {seqs * cfg.model.block_size:,} tokens per update"
    )
