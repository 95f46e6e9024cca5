"""Configuration: what to train, on what, and how.

Holds the three dataclasses (ModelConfig, DataConfig, TrainConfig), the
`Config` that groups them and `validate`, which refuses every bad value with a
`ConfigError` that names the field and the fix, before any work starts. The
named presets (smoke, cpu, gpu, ...), the profile switch (SLMLAB_PROFILE) and
the lesson setups live in `slmlab.presets`, built from these classes.

It imports nothing else of slmlab. Checks that need the data (block_size
larger than the validation split, say) live where the data is known
(`slmlab.data`) but raise the same ConfigError.

The field names are fixed course-wide, and every module, notebook and figure
uses them: `lr`, `min_lr`, `warmup_steps`, `max_steps`, `micro_batch_size`,
`grad_accum_steps`, `block_size`, `eval_interval` (steps between evaluations)
and `eval_batches` (batches in one evaluation). Steps are always optimizer
updates, never micro-batches; "tokens" is said where tokens are meant.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "ConfigError",
    "ModelConfig",
    "DataConfig",
    "TrainConfig",
    "Config",
    "validate",
    "KNOWN_CORPORA",
    "is_known_tokenizer",
]


class ConfigError(ValueError):
    """A bad configuration value. The message names the field and the fix."""


KNOWN_CORPORA = ("synthetic", "tinystories", "shakespeare")  # plus "file:PATH"
KNOWN_TOKENIZERS = ("char", "gpt2")  # plus "bpe-N"
DTYPES = ("auto", "float32", "bfloat16", "float16")
OPTIMIZERS = ("adamw", "muon")
DEVICES = ("auto", "cpu", "cuda", "mps")


def is_known_tokenizer(name: str) -> bool:
    """True for 'char', 'gpt2' and 'bpe-N' with N >= 1 merges."""
    if name in KNOWN_TOKENIZERS:
        return True
    if name.startswith("bpe-"):
        n = name[4:]
        return n.isdigit() and int(n) >= 1
    return False


# ---------------------------------------------------------------------------
# The three concerns


@dataclass
class ModelConfig:
    """The GPT's shape. nanoGPT's GPTConfig, with one block_size for all."""

    n_layer: int = 4  # transformer blocks; depth
    n_head: int = 4  # attention heads per block; n_embd must divide by it
    n_embd: int = 128  # width of the residual stream
    block_size: int = 128  # context length in tokens, shared by model AND data
    vocab_size: int | None = None  # None: taken from the tokenizer at train time
    dropout: float = 0.0  # on attention probs, residual branches, embeddings
    bias: bool = False  # biases in Linear/LayerNorm; off is a bit faster, no worse


@dataclass
class DataConfig:
    """Which text, which tokenizer, how much of it."""

    corpus: str = "synthetic"  # synthetic | tinystories | shakespeare | file:PATH
    tokenizer: str = "bpe-512"  # char | bpe-N (trained here) | gpt2 (tiktoken)
    data_fraction: float = 1.0  # share of the TRAIN documents used; val is fixed
    val_fraction: float = 0.1  # share of documents held out when no val split
    corpus_bytes: int = 2_000_000  # size cap: synthetic text made, download cap
    data_seed: int = 1234  # synthetic generator seed and document split
    sampling: str = "random"  # train windows: random (any offset) | chunks (offsets a multiple of block_size)
    input_noise: float = 0.0  # share of train INPUT tokens swapped for a random train token; targets clean


@dataclass
class TrainConfig:
    """How to train. Steps are optimizer updates; tokens per step below."""

    lr: float = 1e-3  # peak learning rate, reached at the end of warmup
    min_lr: float = 1e-4  # floor of the cosine decay; must not exceed lr
    warmup_steps: int = 100  # linear rise from ~0 to lr, in optimizer updates
    max_steps: int = 2000  # optimizer updates in the whole run
    micro_batch_size: int = 16  # sequences per forward/backward pass
    grad_accum_steps: int = 1  # micro-batches summed into one update
    eval_interval: int = 200  # optimizer updates between evaluations
    eval_batches: int = 20  # micro-batches averaged in one evaluation
    eval_train: bool = True  # evals measure the train split too; False: val only, half the eval time, no gap
    weight_decay: float = 0.1  # AdamW decay, on matmul weights + embeddings only
    beta1: float = 0.9  # AdamW first-moment decay
    beta2: float = 0.95  # AdamW second-moment decay; 0.95 is the GPT habit
    grad_clip: float = 1.0  # max global grad norm after unscale; 0 turns it off
    early_stop_patience: int = 0  # evals without a new best val before stopping; 0: off
    seed: int = 1337  # model init, dropout and batch order
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16 (autocast)
    compile: bool = False  # torch.compile the model (costs seconds up front)
    device: str = "auto"  # auto | cpu | cuda | mps
    log_interval: int = 10  # steps between progress updates / host syncs
    time_budget: float = 0.0  # wall seconds for the whole run, 0: off; on, max_steps is a cap (lr_at)
    optimizer: str = "adamw"  # adamw | muon (Muon on the blocks' matrices, AdamW on the rest)
    muon_lr: float = 0.02  # Muon's peak lr (optimizer=muon); the schedule's shape, scaled


@dataclass
class Config:
    """Everything one run needs. `replace` changes fields by their flat name."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = "custom"  # the preset it came from, for labels

    # --- derived numbers a student should see
    @property
    def tokens_per_step(self) -> int:
        """Tokens in one optimizer update."""
        t = self.train
        return t.micro_batch_size * t.grad_accum_steps * self.model.block_size

    @property
    def total_tokens(self) -> int:
        """Tokens the whole run trains on."""
        return self.tokens_per_step * self.train.max_steps

    # --- flat access: field names are unique across the three concerns
    def replace(self, **changes: Any) -> Config:
        """A copy with fields changed by flat name: cfg.replace(lr=3e-4, n_layer=2)."""
        parts = {
            "model": dataclasses.replace(self.model),
            "data": dataclasses.replace(self.data),
            "train": dataclasses.replace(self.train),
        }
        name = self.name
        for key, value in changes.items():
            if key == "name":
                name = value
                continue
            part = _part_of(key)
            setattr(parts[part], key, value)
        return Config(name=name, **parts)

    def get(self, key: str) -> Any:
        return getattr(getattr(self, _part_of(key)), key)

    def to_dict(self) -> dict:
        return {"name": self.name, **dataclasses.asdict(self)}

    def flat(self) -> dict:
        """All fields in one dict, flat names."""
        out = {}
        for part in ("model", "data", "train"):
            out.update(dataclasses.asdict(getattr(self, part)))
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        try:
            return cls(
                model=ModelConfig(**d.get("model", {})),
                data=DataConfig(**d.get("data", {})),
                train=TrainConfig(**d.get("train", {})),
                name=d.get("name", "custom"),
            )
        except TypeError as e:
            raise ConfigError(f"config file: {e}; use the field names of slmlab.config") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def set_from_string(self, assignment: str) -> Config:
        """Parse 'field=value' (CLI --set) with the field's own type."""
        if "=" not in assignment:
            raise ConfigError(f"--set {assignment!r}: write it as field=value, e.g. lr=3e-4")
        key, raw = assignment.split("=", 1)
        key = key.strip()
        self.get(key)  # an unknown field is refused here, with close names
        return self.replace(**{key: _parse_like(key, raw.strip())})


_CONCERNS = (("model", ModelConfig), ("data", DataConfig), ("train", TrainConfig))
_FIELD_PART = {f.name: part for part, klass in _CONCERNS for f in fields(klass)}
_FIELD_TYPES = {name: hint for _, klass in _CONCERNS for name, hint in typing.get_type_hints(klass).items()}


def _part_of(key: str) -> str:
    if key not in _FIELD_PART:
        close = [k for k in _FIELD_PART if k.split("_")[0] == key.split("_")[0]]
        hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
        raise ConfigError(f"unknown config field {key!r}{hint}; fields: {', '.join(sorted(_FIELD_PART))}")
    return _FIELD_PART[key]


def _declared(key: str) -> tuple[type, bool]:
    """(base type, None allowed) of field `key`, from its annotation: `int | None` -> (int, True)."""
    hint = _FIELD_TYPES[key]
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    args = typing.get_args(hint) if union else (hint,)
    base = next(a for a in args if a is not type(None))
    return base, type(None) in args


_WANT = {bool: "True or False", int: "a whole number", float: "a number", str: "text"}


def _parse_like(key: str, raw: str) -> Any:
    """Text from the command line -> a value of field `key`'s declared type."""
    base, optional = _declared(key)
    if optional and raw.lower() == "none":
        return None
    try:
        if base is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if base is int:
            number = float(raw)  # so 1e4 works
            if not number.is_integer():
                raise ValueError(raw)
            return int(number)
        if base is float:
            return float(raw)
    except ValueError:
        want = _WANT[base] + (" or none" if optional else "")
        raise ConfigError(f"{key}={raw!r}: expected {want}") from None
    return raw


# ---------------------------------------------------------------------------
# Validation: every bad value refused before any work.
# First each field's type, then one rule per field (the tables below, read in order),
# then the rules that tie two fields together.

_Rule = tuple[str, Callable[[Any], bool], str]  # (field, ok(value), message with {v})


def _positive(name: str) -> _Rule:
    return (name, lambda v: v > 0, name + "={v!r} must be a positive whole number")


def _at_least_0(name: str, hint: str) -> _Rule:
    return (name, lambda v: v >= 0, name + "={v} must be >= 0 " + hint)


_MODEL_RULES: list[_Rule] = [
    *(_positive(n) for n in ("n_layer", "n_head", "n_embd", "block_size")),
    (
        "vocab_size",
        lambda v: v is None or v > 0,
        "vocab_size={v!r} must be a positive whole number, or None (taken from the tokenizer)",
    ),
    ("dropout", lambda v: 0.0 <= v < 1.0, "dropout={v} is outside [0, 1); use e.g. 0.0-0.3"),
]

_TRAIN_RULES: list[_Rule] = [
    *(
        _positive(n)
        for n in ("max_steps", "micro_batch_size", "grad_accum_steps", "eval_interval", "eval_batches", "log_interval")
    ),
    ("lr", lambda v: math.isfinite(v) and v > 0, "lr={v} must be a positive number, e.g. 1e-3"),
    ("min_lr", lambda v: math.isfinite(v) and v >= 0, "min_lr={v} must be >= 0, e.g. lr/10"),
    _at_least_0("warmup_steps", "(1-10% of max_steps is usual)"),
    _at_least_0("weight_decay", "(0.1 is usual)"),
    _at_least_0("grad_clip", "(0 turns clipping off)"),
    ("beta1", lambda v: 0.0 <= v < 1.0, "beta1={v} must be in [0, 1)"),
    ("beta2", lambda v: 0.0 <= v < 1.0, "beta2={v} must be in [0, 1)"),
    _at_least_0("seed", "(any whole number from 0 up)"),
    _at_least_0("early_stop_patience", "(0 turns it off)"),
    (
        "time_budget",
        lambda v: math.isfinite(v) and v >= 0,
        "time_budget={v} must be >= 0 seconds (0 turns it off; 600 is ten minutes)",
    ),
    ("optimizer", lambda v: v in OPTIMIZERS, "optimizer={v!r} is unknown; use one of " + ", ".join(OPTIMIZERS)),
    ("muon_lr", lambda v: math.isfinite(v) and v > 0, "muon_lr={v} must be a positive number, e.g. 0.02"),
    ("dtype", lambda v: v in DTYPES, "dtype={v!r} is unknown; use one of " + ", ".join(DTYPES)),
    ("device", lambda v: v in DEVICES, "device={v!r} is unknown; use one of " + ", ".join(DEVICES)),
]

_DATA_RULES: list[_Rule] = [
    ("data_fraction", lambda v: 0.0 < v <= 1.0, "data_fraction={v} must be in (0, 1], e.g. 0.05 for 5%"),
    ("val_fraction", lambda v: 0.0 < v < 1.0, "val_fraction={v} must be in (0, 1), e.g. 0.1"),
    ("corpus_bytes", lambda v: v > 0, "corpus_bytes={v} must be positive, e.g. 2000000"),
    _at_least_0("data_seed", "(any whole number from 0 up)"),
    (
        "corpus",
        lambda v: v in KNOWN_CORPORA or v.startswith("file:"),
        "corpus={v!r} is unknown; use one of " + ", ".join(KNOWN_CORPORA) + " or file:PATH for your own text",
    ),
    ("corpus", lambda v: v != "file:", "corpus='file:' names no path; write file:path/to/text.txt or a folder"),
    ("tokenizer", is_known_tokenizer, "tokenizer={v!r} is unknown; use char, gpt2 or bpe-N (N merges, e.g. bpe-4096)"),
    ("sampling", lambda v: v in ("random", "chunks"), "sampling={v!r} is unknown; use random or chunks"),
    ("input_noise", lambda v: 0.0 <= v < 1.0, "input_noise={v} must be in [0, 1), e.g. 0.1 (0 turns it off)"),
]


def validate(cfg: Config) -> Config:
    """Raise ConfigError for the first bad value; return cfg when all is well."""
    for part, rules in ((cfg.model, _MODEL_RULES), (cfg.train, _TRAIN_RULES), (cfg.data, _DATA_RULES)):
        _check_types(part)
        _check_rules(part, rules)
    _check_relations(cfg.model, cfg.train)
    return cfg


def _check_types(part: Any) -> None:
    """Each field has its declared type: a whole number where an int is due (not 2.5,
    not True), a number for a float, True/False for a bool, text for a str; None only
    where the field allows it (vocab_size: None means "from the tokenizer")."""
    for f in fields(part):
        value = getattr(part, f.name)
        base, optional = _declared(f.name)
        if value is None and optional:
            continue
        if base is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif base is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, base)
        if not ok:
            want = _WANT[base] + (" or None" if optional else "")
            raise ConfigError(f"{f.name}={value!r} must be {want} (default {f.default!r})")


def _check_rules(part: Any, rules: list[_Rule]) -> None:
    for name, ok, message in rules:
        value = getattr(part, name)
        if not ok(value):
            raise ConfigError(message.format(v=value))


def _check_relations(m: ModelConfig, t: TrainConfig) -> None:
    """The rules that tie two fields together."""
    if m.n_embd % m.n_head:
        raise ConfigError(
            f"n_embd={m.n_embd} is not divisible by n_head={m.n_head}; pick n_head from {_divisors(m.n_embd)}"
        )
    if t.min_lr > t.lr:
        raise ConfigError(
            f"min_lr={t.min_lr:g} is above lr={t.lr:g}: the cosine phase would "
            f"RAISE the learning rate; set min_lr <= lr (lr/10 is usual)"
        )
    if t.warmup_steps >= t.max_steps:
        raise ConfigError(
            f"warmup_steps={t.warmup_steps} >= max_steps={t.max_steps}: the run "
            f"would end before warmup does; use warmup_steps < max_steps (1-10% of it)"
        )


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, min(n, 64) + 1) if n % k == 0]


# ---------------------------------------------------------------------------
# The names that moved to slmlab.presets, still importable from here for code
# written before the move (PEP 562). New code imports them from slmlab.presets.

_MOVED_TO_PRESETS = ("PRESETS", "PROFILES", "preset", "profile", "LESSON_SETUPS", "lesson_setup")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_PRESETS:
        from . import presets  # presets imports this module: looked up only on use

        return getattr(presets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
