"""torchrun's data-parallel training, on CPU with gloo and 2 processes.

The first tests need no second process: what init does alone, and on CUDA (faked: the
nccl path is wired up, not run). Then one module fixture starts 2 ranks once
(torch.multiprocessing, spawn; a free port, GLOO_SOCKET_IFNAME=lo, one thread each) and
each rank runs three scenarios in order:
a whole run, a run stopped by rank 1 alone and resumed, and a run whose rank 1 dies.
Their results come back as files; the tests hold them against one process training on
the global batch (2 ranks x B against 1 x 2B: the same windows, dropout off). A last
test runs the real `torchrun ... -m slmlab train` once.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from slmlab import cli, distributed
from slmlab.callbacks import Callback
from slmlab.checkpoint import load_checkpoint
from slmlab.config import ConfigError
from slmlab.data import prepare
from slmlab.device import Device
from slmlab.presets import preset
from slmlab.train import Trainer, train

if not (dist.is_available() and dist.is_gloo_available()):
    pytest.skip("this torch has no gloo backend, so data-parallel training on CPU cannot run", allow_module_level=True)

B = 4  # micro-batch per rank; the one-process reference trains on 2 * B
WORLD = 2
TIMEOUT_S = 20  # the process group's: a dead peer must end the run well before this
LOOPBACK = "lo0" if sys.platform == "darwin" else "lo"  # GLOO_SOCKET_IFNAME: never the host's address


def cfg_for(micro_batch_size: int):
    """6 updates of 2 micro-steps (so no_sync matters), evals at 3 and 6, no dropout."""
    return preset(
        "smoke",
        dropout=0.0,
        micro_batch_size=micro_batch_size,
        grad_accum_steps=2,
        max_steps=6,
        warmup_steps=2,
        eval_interval=3,
        eval_batches=2,
        log_interval=3,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# In this process: alone, and the CUDA path faked


def test_alone_no_process_group_is_joined(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert isinstance(distributed.init("cpu"), distributed.Alone) and not dist.is_initialized()


def test_on_cuda_each_rank_takes_the_gpu_of_its_local_rank_with_nccl(monkeypatch):
    calls = {}
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.delenv("SLMLAB_DDP_TIMEOUT", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: calls.setdefault("gpu", i))

    def init_process_group(backend=None, timeout=None, device_id=None):  # the real one's keywords
        calls["init"] = {"backend": backend, "timeout": timeout, "device_id": device_id}

    monkeypatch.setattr(dist, "init_process_group", init_process_group)
    monkeypatch.setattr(distributed, "_current", lambda: "joined")
    assert distributed.init("cuda") == "joined"
    assert calls["gpu"] == 1 and calls["init"]["backend"] == "nccl"
    assert calls["init"]["device_id"] == torch.device("cuda", 1)
    assert calls["init"]["timeout"].total_seconds() == distributed.TIMEOUT_S
    d = distributed.Dist(rank=3, local_rank=1, world_size=4, local_world_size=2, backend="nccl")
    assert d.device_index("cuda") == 1 and d.device_index("cpu") is None
    assert Device("cuda", torch.bfloat16, 1, "gpu", index=1).torch_device == torch.device("cuda", 1)


def test_more_ranks_than_gpus_and_torchrun_on_mps_are_refused_in_one_line(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(RuntimeError, match="LOCAL_RANK 3 but this machine shows 2 GPU.*nproc_per_node=2"):
        distributed.init("cuda")
    with pytest.raises(ConfigError, match=r"CUDA \(nccl\) or CPU \(gloo\)"):
        distributed.init("mps")


def test_wrap_leaves_rank_0_its_stream_and_gives_each_other_rank_its_own(monkeypatch):
    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", lambda model, device_ids=None: model)
    cpu = Device("cpu", torch.float32, 1, "cpu")
    model, streams = torch.nn.Linear(2, 2), []
    for rank in (0, 1, 2):
        torch.manual_seed(7)
        torch.rand(1)  # the weights drew from the stream before the wrap
        ranks = distributed.Dist(rank=rank, local_rank=rank, world_size=3, local_world_size=3, backend="gloo")
        assert ranks.wrap(model, cpu, seed=7) is model
        streams.append(torch.rand(4))
    torch.manual_seed(7)
    torch.rand(1)
    assert torch.equal(streams[0], torch.rand(4))  # rank 0 (and one process alone) draws on as before
    torch.manual_seed(7 + 2)
    assert torch.equal(streams[2], torch.rand(4)) and not torch.equal(streams[1], streams[2])


def test_a_collective_whose_peer_is_gone_rises_as_peer_lost_in_one_line(monkeypatch):
    def gone(*args, **kwargs):
        raise RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer [1]:1")

    monkeypatch.setattr(dist, "barrier", gone)
    d = distributed.Dist(rank=0, local_rank=0, world_size=2, local_world_size=2, backend="gloo")
    with pytest.raises(distributed.PeerLost, match=r"^rank 0 of 2 lost contact .*\(Connection closed by peer"):
        d.barrier()  # outside the loop's guard too (the last save waits here)
    monkeypatch.setattr(dist, "barrier", lambda: (_ for _ in ()).throw(RuntimeError("not a peer's")))
    with pytest.raises(RuntimeError, match="not a peer's"):
        d.barrier()  # any other error rises as it is


# ---------------------------------------------------------------------------
# What each rank runs (in its own process)


class CountAllReduces(Callback):
    """A DDP comm hook that counts the gradient all-reduces of each update."""

    def __init__(self):
        self.calls, self.per_update = 0, []

    def on_train_start(self, trainer):
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        def hook(state, bucket):
            self.calls += 1
            return default_hooks.allreduce_hook(None, bucket)

        trainer.step_model.register_comm_hook(None, hook)

    def on_update(self, trainer):
        self.per_update.append(self.calls)
        self.calls = 0


class StopOnRank1(Callback):
    """Rank 1 alone asks to stop after the eval at `step`: every rank must stop there."""

    def __init__(self, step):
        self.step = step

    def on_eval(self, trainer, record):
        if trainer.dist.rank == 1 and trainer.step == self.step:
            trainer.request_stop()


class DieOnRank1(Callback):
    def on_update(self, trainer):
        if trainer.dist.rank == 1 and trainer.step == 2:
            os._exit(3)  # no goodbye to the other rank


def _rank(rank: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_WORLD_SIZE=str(WORLD),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        GLOO_SOCKET_IFNAME=LOOPBACK,
        SLMLAB_THREADS="1",
        SLMLAB_DDP_TIMEOUT=str(TIMEOUT_S),
    )
    torch.set_num_threads(1)
    out, cfg = Path(out), cfg_for(B)
    counter = CountAllReduces()
    trainer = Trainer(cfg, out_dir=out / f"whole-rank{rank}", progress=False, callbacks=[counter])
    h = trainer.run()
    torch.save(
        {
            "params": trainer.model.state_dict(),
            "steps": h.steps,
            "evals": h.evals,
            "meta": h.meta,
            "all_reduces": counter.per_update,
        },
        out / f"whole-{rank}.pt",
    )

    first = train(cfg, out_dir=out / "resumed", progress=False, callbacks=[StopOnRank1(3)])
    resumed = train(resume=out / "resumed", progress=False)
    torch.save(
        {"first": (first.stop_reason, first.steps[-1]["step"]), "steps": resumed.steps, "evals": resumed.evals},
        out / f"resumed-{rank}.pt",
    )

    timed = Trainer(cfg.replace(time_budget=1.5, max_steps=100_000, eval_interval=1000), progress=False)
    th = timed.run()  # a time_budget's lr from each rank's own clock would part the replicas
    torch.save({"params": timed.model.state_dict(), "lrs": [r["lr"] for r in th.steps]}, out / f"timed-{rank}.pt")

    t0 = time.perf_counter()
    try:
        train(cfg, progress=False, callbacks=[DieOnRank1()])
        failure = None
    except RuntimeError as e:
        failure = (type(e).__name__, str(e))
    torch.save({"failure": failure, "seconds": time.perf_counter() - t0}, out / f"died-{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run the two ranks once; {name: what rank 0 (and rank 1) saved}, and the folder."""
    out = tmp_path_factory.mktemp("ddp")
    prepare(cfg_for(B).data)  # tokenize once, here, so the ranks only read
    ctx = mp.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=_rank, args=(r, port, str(out))) for r in range(WORLD)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, "a rank hung (killed after 300 s)"
    assert procs[0].exitcode == 0 and procs[1].exitcode == 3, [p.exitcode for p in procs]
    return out, {f.stem: torch.load(f, weights_only=False) for f in out.glob("*.pt")}


@pytest.fixture(scope="module")
def one_process():
    """The reference: one process, micro-batch 2B, the same config otherwise."""
    trainer = Trainer(cfg_for(WORLD * B), progress=False)
    h = trainer.run()
    return trainer.model.state_dict(), h


def _same_records(got, want, keys):
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want, strict=True):
        for k in keys:
            assert g[k] == pytest.approx(w[k], rel=1e-5, abs=1e-6), (g["step"], k)


# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_two_ranks_of_b_train_the_parameters_of_one_process_of_2b(ranks, one_process):
    _, saved = ranks
    want, _ = one_process
    for rank in range(WORLD):  # the same on both ranks, and the same as one process
        got = saved[f"whole-{rank}"]["params"]
        for name, w in want.items():
            assert torch.allclose(got[name], w, rtol=1e-5, atol=1e-6), name


@pytest.mark.slow
def test_their_histories_are_the_history_of_one_process(ranks, one_process):
    _, saved = ranks
    _, h = one_process
    whole = saved["whole-0"]
    _same_records(whole["steps"], h.steps, ("loss", "lr", "grad_norm", "tokens"))
    _same_records(whole["evals"], h.evals, ("train_loss", "val_loss", "tokens"))
    assert whole["meta"]["tokens_per_step"] == h.meta["tokens_per_step"]  # global: 2 x B x accum x T
    assert whole["meta"]["world_size"] == 2 and whole["meta"]["global_batch"] == 2 * 2 * B


@pytest.mark.slow
def test_a_time_budget_gives_every_rank_the_same_lr_and_weights(ranks):
    _, saved = ranks
    a, b = saved["timed-0"], saved["timed-1"]
    assert len(a["lrs"]) > 5 and a["lrs"] == b["lrs"]
    assert all(torch.equal(a["params"][k], b["params"][k]) for k in a["params"])


@pytest.mark.slow
def test_accumulation_all_reduces_once_per_update(ranks):
    _, saved = ranks  # the first micro-step ran under no_sync; the tiny model is one bucket
    assert saved["whole-0"]["all_reduces"] == [1] * 6


@pytest.mark.slow
def test_only_rank_0_writes_the_run_folder(ranks):
    out, _ = ranks
    assert not (out / "whole-rank1").exists()
    assert {p.name for p in (out / "whole-rank0").iterdir()} == {
        "config.json",
        "env.json",
        "history.jsonl",
        "ckpt.pt",
        "best.pt",
    }
    ckpt = load_checkpoint(out / "whole-rank0" / "ckpt.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng_by_rank"]) == 2


@pytest.mark.slow
def test_a_stop_on_one_rank_stops_both_and_resume_continues_exactly(ranks, one_process):
    _, saved = ranks
    _, h = one_process
    assert saved["resumed-0"]["first"] == ("stopped", 3)  # rank 0 stopped though only rank 1 asked
    _same_records(saved["resumed-0"]["steps"], h.steps, ("loss", "lr", "grad_norm", "tokens"))
    _same_records(saved["resumed-0"]["evals"], h.evals, ("train_loss", "val_loss"))


@pytest.mark.slow
def test_resume_with_another_number_of_processes_is_refused_in_one_line(ranks, capsys):
    out, _ = ranks
    with pytest.raises(ConfigError, match="trained by 2 process.*this is 1"):
        train(resume=out / "resumed", progress=False)
    assert cli.main(["train", "--resume", str(out / "resumed"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "this is 1" in err and "torchrun" in err


@pytest.mark.slow
def test_a_killed_rank_ends_the_run_with_a_clear_error_not_a_hang(ranks):
    _, saved = ranks
    died = saved["died-0"]
    assert died["failure"] is not None, "rank 0 finished a run whose rank 1 had died"
    kind, message = died["failure"]
    assert kind == "PeerLost" and "\n" not in message
    assert message.startswith("rank 0 of 2 lost contact with the other processes (") and ".cc:" not in message
    assert died["seconds"] < TIMEOUT_S + 10


@pytest.mark.slow
def test_torchrun_runs_the_cli_with_two_processes(tmp_path):
    env = {
        **os.environ,
        "GLOO_SOCKET_IFNAME": LOOPBACK,
        "OMP_NUM_THREADS": "1",
        "SLMLAB_THREADS": "1",
        "SLMLAB_DDP_TIMEOUT": str(TIMEOUT_S),
        "PYTHONPATH": str(Path(__file__).parents[1]),
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=localhost:0",
        "-m",
        "slmlab",
        "train",
        "--profile",
        "smoke",
        "--set",
        "max_steps=4",
        "--set",
        "eval_interval=2",
        "--set",
        "warmup_steps=1",
        "--out",
        str(tmp_path / "run"),
        "--quiet",
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert (
        lines.count(
            "ddp: 2 processes (gloo); global batch = 8 micro_batch_size x 1 "
            "grad_accum_steps x 2 processes = 16 sequences = 512 tokens per update"
        )
        == 1
    )
    assert sum(line.startswith("4 steps in ") for line in lines) == 1  # rank 0's summary only
    assert load_checkpoint(tmp_path / "run" / "ckpt.pt")["world_size"] == 2
