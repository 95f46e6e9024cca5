"""Device and dtype choice, with the hardware faked where this machine lacks it."""

import os

import pytest
import torch

from slmlab import device as dev


def test_auto_picks_cpu_here_and_named_missing_devices_fail(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.pick_device("auto") in ("cpu", "mps")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        dev.pick_device("cuda")


def test_cuda_prefers_bf16_and_falls_back_to_fp16_with_scaler():
    assert dev.pick_dtype("cuda", cuda_bf16=True) == torch.bfloat16
    assert dev.pick_dtype("cuda", cuda_bf16=False) == torch.float16  # a T4, say
    d = dev.Device("cuda", torch.float16, 1, "fake T4")
    assert d.use_scaler
    assert not dev.Device("cuda", torch.bfloat16, 1, "fake A100").use_scaler


def test_a_t4_gets_fp16_though_torch_says_it_can_emulate_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # emulation counts there
    for capability, want in (((7, 5), torch.float16), ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, c=capability: c)
        assert dev.pick_dtype("cuda") == want, capability


def test_cpu_dtype_auto_follows_the_switch_and_hardware(monkeypatch):
    assert dev.pick_dtype("cpu", cpu_bf16=False) == torch.float32
    monkeypatch.setattr(dev, "CPU_AUTO_BF16", True)
    assert dev.pick_dtype("cpu", cpu_bf16=True) == torch.bfloat16
    assert dev.pick_dtype("cpu", cpu_bf16=False) == torch.float32
    assert dev.pick_dtype("mps") == torch.float32


def test_cpu_bf16_can_be_turned_off_to_run_as_a_laptop_without_it(monkeypatch):
    monkeypatch.setenv("SLMLAB_CPU_BF16", "0")
    assert dev.cpu_has_bf16() is False
    assert dev.pick_dtype("cpu") == torch.float32


def test_explicit_dtypes_and_refusals():
    assert dev.pick_dtype("cpu", "bfloat16") == torch.bfloat16
    assert dev.pick_dtype("cuda", "float32") == torch.float32
    with pytest.raises(ValueError, match="float16.*CPU"):
        dev.pick_dtype("cpu", "float16")
    with pytest.raises(ValueError, match="dtype"):
        dev.pick_dtype("cpu", "int8")


@pytest.fixture
def restore_threads():
    """setup() changes torch's process-wide thread count: put it back for later tests."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_setup_returns_a_usable_device(restore_threads):
    torch.set_num_threads(2)
    d = dev.setup("cpu", "float32", threads=1)
    assert d.type == "cpu" and d.threads == 1 and torch.get_num_threads() == 1  # setup set it
    with d.autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    assert not d.grad_scaler().is_enabled()
    bf = dev.Device("cpu", torch.bfloat16, 1, "cpu")
    with bf.autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16


def test_threads_default_to_slmlab_threads(monkeypatch, restore_threads):
    monkeypatch.setenv("SLMLAB_THREADS", "3")
    assert dev.default_threads() == 3
    assert dev.setup("cpu", "float32").threads == 3 and torch.get_num_threads() == 3
    monkeypatch.delenv("SLMLAB_THREADS")
    assert 1 <= dev.default_threads() <= (os.cpu_count() or 1)


def _glibc() -> bool:
    import platform

    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only")
def test_a_cpu_process_keeps_the_memory_it_frees_once(monkeypatch):
    """setup() on a CPU calls mallopt once per process; the answer is remembered."""
    monkeypatch.setattr(dev, "_kept", None)
    for k in [k for k in os.environ if k.startswith("MALLOC_")] + ["GLIBC_TUNABLES", "SLMLAB_KEEP_MEMORY"]:
        monkeypatch.delenv(k, raising=False)
    dev.setup("cpu", "float32")
    assert dev._kept is True
    monkeypatch.setenv("SLMLAB_KEEP_MEMORY", "0")  # asked once: a later call does not ask again
    assert dev.keep_freed_memory() is True


@pytest.mark.parametrize(
    "env", [{"SLMLAB_KEEP_MEMORY": "0"}, {"MALLOC_ARENA_MAX": "2"}, {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}]
)
def test_memory_is_left_alone_when_asked_or_already_tuned(monkeypatch, env):
    monkeypatch.setattr(dev, "_kept", None)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert dev.keep_freed_memory() is False
