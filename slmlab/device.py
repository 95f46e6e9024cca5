"""The one place that picks the device, the number type and the threads.

cuda -> mps -> cpu; bf16 autocast where the hardware has it, fp16 autocast
with a GradScaler on GPUs without bf16, fp32 otherwise. Notebooks call
`setup()` and print the result; they never paste device code of their own.

It imports nothing else of slmlab. What runs on the device (model, trainer)
lives elsewhere and asks this module through a `Device`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass

import torch

__all__ = [
    "Device",
    "pick_device",
    "pick_dtype",
    "setup",
    "cpu_has_bf16",
    "cuda_has_bf16",
    "bf16_native",
    "native_dtypes",
    "keep_freed_memory",
    "default_workers",
]

# bf16 autocast on a CPU with native bf16 (AVX-512 BF16 / AMX). On by default,
# because on such a CPU its loss curve matches fp32 within seed noise and its steps are
# faster. The 3-seed measurement is dated in RESULTS.md. Master weights and the loss
# stay fp32.
CPU_AUTO_BF16 = True

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# Apple's GPU (MPS), as peer courses' trackers report it (README "On a Mac"): losses stuck or far
# from the CPU's, curves that differ run to run, NaN/-inf under bf16 on older macOS. So fp32 is
# the default there, and a loss that looks impossible is checked against device='cpu' first.
MPS_NOTE = (
    "MPS (Apple GPU): fp32 by default; if a loss looks impossible or differs from the CPU's, "
    "rerun the same cell with device='cpu' (README: On a Mac)"
)
MPS_LOW_PRECISION = (
    "dtype={dtype} on MPS: bf16/fp16 autocast there has given NaN or -inf losses on older "
    "macOS (fp32 is the default); compare a few steps with dtype='float32' or device='cpu'"
)


@dataclass(frozen=True)
class Device:
    """Where and in what number type a run computes."""

    type: str  # "cuda" | "mps" | "cpu"
    dtype: torch.dtype  # autocast dtype; float32 means no autocast
    threads: int  # torch intra-op threads (CPU work)
    name: str  # human-readable: GPU name or CPU model
    index: int | None = None  # which GPU (a torchrun rank's LOCAL_RANK); None: the current one

    @property
    def use_scaler(self) -> bool:
        """fp16 needs loss scaling; bf16 and fp32 do not."""
        return self.dtype == torch.float16

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.type) if self.index is None else torch.device(self.type, self.index)

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def autocast(self):
        """Context manager for the forward pass in the chosen dtype."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only for fp16 (a no-op otherwise)."""
        return torch.amp.GradScaler(self.type if self.type != "mps" else "cpu", enabled=self.use_scaler)

    def __str__(self) -> str:
        return f"{self.type} ({self.name}), {self.dtype_name}, {self.threads} thread{'s' if self.threads != 1 else ''}"


# ---------------------------------------------------------------------------


def pick_device(requested: str = "auto") -> str:
    """'auto' -> cuda if present, else mps, else cpu. A named device must exist."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no CUDA GPU is visible; use device='auto' or 'cpu'")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device='mps' but MPS is not available; use device='auto' or 'cpu'")
    return requested


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 matmuls (AVX-512 BF16 or AMX).

    SLMLAB_CPU_BF16=0 answers False on any CPU, so a machine with bf16 runs the course
    as a laptop without it would: dtype=auto trains in fp32 and bf16 timings are skipped.
    """
    if os.environ.get("SLMLAB_CPU_BF16", "").strip() == "0":
        return False
    try:
        caps = torch.backends.cpu.get_cpu_capability()  # e.g. "AVX512", "AVX2"
    except AttributeError:  # very old torch
        return False
    if "AVX512" not in caps:
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        return False


def cuda_has_bf16() -> bool:
    """Whether the GPU computes bf16 natively: compute capability 8.0 (Ampere) or newer.
    torch.cuda.is_bf16_supported() also says yes where bf16 is only emulated (a T4), so it
    is not asked."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)


def bf16_native(device: str) -> bool:
    """Whether bf16 matmuls run natively on device type `device` ('cpu', 'cuda', 'mps')."""
    if device == "cuda":
        return cuda_has_bf16()
    return device == "cpu" and cpu_has_bf16()


def native_dtypes(wanted: tuple[str, ...], device: str) -> tuple[list[str], list[str]]:
    """(dtypes to run, notes on the ones skipped) for a benchmark on device type `device`: bf16 only
    where the hardware computes it (fp16 instead on a GPU without it); a CPU without is skipped."""
    run, skipped = [], []
    for d in wanted:
        if d == "bfloat16" and device == "cpu" and not bf16_native("cpu"):
            skipped.append(
                "bfloat16 skipped: this CPU has no native bf16 (a bf16 matmul runs ~70x slower than fp32 there)"
            )
        elif d == "bfloat16" and device == "cuda" and not bf16_native("cuda"):
            run.append("float16")
        else:
            run.append(d)
    return run, skipped


def pick_dtype(
    device: str, requested: str = "auto", *, cuda_bf16: bool | None = None, cpu_bf16: bool | None = None
) -> torch.dtype:
    """The autocast dtype for `device`.

    auto: cuda -> bf16 if supported else fp16 (+GradScaler); mps -> fp32 (MPS_NOTE; bf16 when
    asked for, with a warning);
    cpu -> bf16 when the CPU computes it natively (`cpu_has_bf16`) and
    CPU_AUTO_BF16 is on, else fp32. The keyword flags let tests fake the hardware.
    """
    if requested != "auto":
        if requested not in _DTYPES:
            raise ValueError(f"dtype={requested!r}: use auto, float32, bfloat16 or float16")
        if requested == "float16" and device == "cpu":
            raise ValueError("dtype='float16' is not supported for CPU training; use bfloat16 or float32")
        return _DTYPES[requested]
    if device == "cuda":
        if cuda_bf16 is None:
            cuda_bf16 = cuda_has_bf16()
        return torch.bfloat16 if cuda_bf16 else torch.float16
    if device == "cpu":
        if cpu_bf16 is None:
            cpu_bf16 = cpu_has_bf16()
        return torch.bfloat16 if (cpu_bf16 and CPU_AUTO_BF16) else torch.float32
    return torch.float32


def default_threads() -> int:
    """Physical cores we may use: $SLMLAB_THREADS, else the CPUs this process may run on."""
    env = os.environ.get("SLMLAB_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def default_workers(device_kinds) -> int:
    """How many runs train side by side (slmlab.pool's 1-thread processes) when nobody says: one per
    core this process may use (default_threads) when every run is on the CPU, else 1 (a GPU's
    runs take turns)."""
    return default_threads() if all(kind == "cpu" for kind in device_kinds) else 1


# glibc's malloc gives a freed block of more than 128 KB (at first; it raises that by itself to the
# largest one freed) back to the system, and trims free memory off the top of its heap beyond
# twice that. A CPU training step frees its activations (MBs each) and allocates them again, so
# each step page-faults them in anew. Keeping freed memory in the process, under these two
# limits, changes no number, only where the bytes come from: a 1-layer x 128 trial of notebook 12
# took 34 ms an update instead of 38 at batch 16 (1 thread, float32; RESULTS.md, 2026-12-05,
# "notebook 12 under 6 minutes"; `make bench` measures it again, side by side).
MMAP_THRESHOLD = 64 << 20  # a block below this comes from the heap, not its own mapping
TRIM_THRESHOLD = 256 << 20  # free memory the heap keeps before it gives some back
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
_kept: bool | None = None  # keep_freed_memory's answer, once per process


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory (MMAP_THRESHOLD, TRIM_THRESHOLD), once per process;
    True where it did. Nothing elsewhere (macOS, Windows, musl), nor where the environment
    already tunes malloc (MALLOC_*_ or GLIBC_TUNABLES) or says SLMLAB_KEEP_MEMORY=0."""
    global _kept
    if _kept is None:
        _kept = False
        tuned = any(k.startswith("MALLOC_") for k in os.environ) or "malloc" in os.environ.get("GLIBC_TUNABLES", "")
        if os.environ.get("SLMLAB_KEEP_MEMORY", "1") != "0" and not tuned and sys.platform.startswith("linux"):
            import ctypes

            try:
                libc = ctypes.CDLL("libc.so.6")
                _kept = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
                    libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                )
            except (OSError, AttributeError):  # not glibc
                pass
    return _kept


def setup(device: str = "auto", dtype: str = "auto", threads: int | None = None, index: int | None = None) -> Device:
    """Pick device, dtype and threads; apply the fast-math switches; return a Device.
    index: the GPU to use (a torchrun rank's; slmlab.distributed sets it current). On a CPU, the
    process keeps the memory it frees (keep_freed_memory)."""
    kind = pick_device(device)
    dt = pick_dtype(kind, dtype)
    n = threads or default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if kind == "cpu":
        keep_freed_memory()
    if kind == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls on Ampere+
        torch.backends.cudnn.allow_tf32 = True
        name = torch.cuda.get_device_name(index)
    elif kind == "mps":
        name = "Apple GPU"
        if dt != torch.float32:
            import warnings

            warnings.warn(MPS_LOW_PRECISION.format(dtype=str(dt).removeprefix("torch.")), stacklevel=2)
    else:
        name = _cpu_name()
    return Device(type=kind, dtype=dt, threads=n, name=name, index=index if kind == "cuda" else None)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "CPU"
