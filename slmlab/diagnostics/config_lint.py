"""Config lint: the student's bugs, caught before training.

`lint(config)` takes a slmlab Config, Config.to_dict(), a flat dict of slmlab
names, or a dict in the student notebook's own words (learning_rate, max_iters,
eval_iters, ... plus facts such as scheduler_steps_per="micro_step") and returns
ranked Findings, always ending with an info "budget" (tokens per update,
optimizer updates, total tokens, epochs). `STUDENT_CONFIG` is the student's
notebook; `CHAT_CONFIG` the chat answer's new numbers on top of it. `to_config` turns the
slmlab shapes into a Config (schedules.py uses it too). A training script or
notebook is script_lint's to read (with ast); it hands lint() the notebook's words.
Refusing bad values at train time is slmlab.config.validate's job, not this one.
"""

from __future__ import annotations

from typing import Any

from ..config import Config
from ..tokenizers import vocab_size_of
from .findings import Finding, fmt_number, fmt_tokens, rank

# ---------------------------------------------------------------------------
# Config lint: the student's bugs, caught before training
#
# A config comes in three shapes, all normalized to one flat dict of slmlab names
# (lr, min_lr, warmup_steps and max_steps in OPTIMIZER UPDATES, ...) plus facts:
# a slmlab Config, Config.to_dict(), or a dict in the student notebook's words.

STUDENT_CONFIG: dict[str, Any] = {
    # the numbers in the student's notebook (its names)
    "learning_rate": 1e-4,
    "max_iters": 20000,
    "warmup_steps": 1000,
    "min_lr": 5e-4,
    "eval_iters": 500,
    "batch_size": 32,
    "block_size": 128,
    "gradient_accumulation_steps": 32,
    "weight_decay": 0.1,
    "beta1": 0.9,
    "beta2": 0.95,
    "grad_clip": 0.5,
    "adam_eps": 1e-9,
    "n_layer": 6,
    "n_head": 6,
    "n_embd": 384,
    "dropout": 0.1,
    "vocab_size": 50257,
    "model_block_size": 128,  # GPTConfig(block_size=...) is set apart from the training block_size
    # facts about how its code uses them
    "scheduler_steps_per": "micro_step",  # scheduler.step() on every loop iteration
    "weight_decay_on_all_params": True,  # AdamW(model.parameters(), weight_decay=0.1)
    "amp_dtype": "float16",  # torch.amp autocast fp16 + GradScaler
    "clip_before_unscale": True,  # clip_grad_norm_ before scaler.unscale_ / scaler.step
    "eot_between_documents": False,  # stories concatenated with no <|endoftext|>
    "warmup_start_factor": 1 / 3,  # LinearLR's default start_factor
    "resume": False,  # no checkpoint holds optimizer + step
}

# The chat answer's new numbers (C17-C24), the rest of the notebook unchanged.
CHAT_CONFIG: dict[str, Any] = {
    **STUDENT_CONFIG,
    "learning_rate": 6e-4,
    "max_iters": 50000,
    "warmup_steps": 5000,
    "min_lr": 1e-5,
    "eval_iters": 200,
    "batch_size": 64,
    "block_size": 256,
    "gradient_accumulation_steps": 16,
}

_NOTEBOOK_WORDS = {
    "learning_rate": "lr",
    "batch_size": "micro_batch_size",
    "gradient_accumulation_steps": "grad_accum_steps",
}


def normalize_config(config, words: str | None = None) -> dict:
    """A flat dict: slmlab names, schedule lengths in optimizer updates, and facts.

    words="notebook" reads a dict in the notebook's words whatever keys it has
    (script_lint's reading of a training script); None guesses from the keys.
    """
    if words == "notebook":
        return _from_notebook(config)
    if isinstance(config, Config):
        return _from_slmlab(config)
    if not isinstance(config, dict):
        raise TypeError(f"lint/schedule take a slmlab Config or a dict, not {type(config).__name__}")
    if "max_iters" in config or "learning_rate" in config or "eval_iters" in config:
        return _from_notebook(config)
    return _from_slmlab(to_config(config), extra=config)


def to_config(config) -> Config:
    """A Config from a Config, Config.to_dict(), or a flat dict of slmlab field names."""
    if isinstance(config, Config):
        return config
    if {"model", "data", "train"} & set(config):
        return Config.from_dict(config)
    names = set(Config().flat())
    return Config().replace(**{k: v for k, v in config.items() if k in names})


def _from_slmlab(cfg: Config, extra: dict | None = None) -> dict:
    c = cfg.flat()
    c.update(
        style="slmlab",
        scheduler_steps_per="update",
        weight_decay_on_all_params=False,
        amp_dtype=cfg.train.dtype,
        clip_before_unscale=False,
        eot_between_documents=True,
        model_block_size=cfg.model.block_size,
        block_size_set_twice=False,
        eval_iters_as_interval=False,
        warmup_start_factor=1 / (cfg.train.warmup_steps + 1),
        resume=True,
        preset=cfg.name,
    )
    if c["vocab_size"] is None:  # from the tokenizer's name; None for char (it needs the text)
        c["vocab_size"] = vocab_size_of(cfg.data.tokenizer)
    c.update({k: v for k, v in (extra or {}).items() if k not in c})
    return c


def _from_notebook(d: dict) -> dict:
    """The student notebook's words: max_iters counts loop iterations = micro-batches.

    Facts a script reader knows better may come with it: loop_counts="update" (each
    iteration accumulates and steps, as in nanoGPT) and eval_iters_as_interval=False.
    """
    c = {_NOTEBOOK_WORDS.get(k, k): v for k, v in d.items()}
    accum = int(c.get("grad_accum_steps", 1))
    per_iter = accum if c.get("loop_counts", "micro_step") == "micro_step" else 1
    per_micro = c.get("scheduler_steps_per") == "micro_step"
    c["max_iters"] = int(c.get("max_iters", 0))
    c["max_steps"] = c["max_iters"] // per_iter
    c["warmup_iters"] = int(c.get("warmup_steps", 0))  # in scheduler steps
    c["warmup_steps"] = c["warmup_iters"] / accum if per_micro else c["warmup_iters"]
    if "eval_iters" in c and "eval_interval" not in c and c.get("eval_iters_as_interval", True):
        c.update(eval_iters_as_interval=True, eval_interval=c["eval_iters"] / per_iter, eval_batches=c["eval_iters"])
    c["block_size_set_twice"] = "model_block_size" in c
    c.setdefault("model_block_size", c.get("block_size"))
    c["style"] = "notebook"
    return c


def lint(config, *, n_train_tokens: int | None = None, words: str | None = None) -> list[Finding]:
    """Check a config before training; ranked findings, errors first.

    n_train_tokens (or the dict's own "n_train_tokens"): lets the budget say how
    many epochs the run makes over the data. words: as in normalize_config.
    """
    c = normalize_config(config, words)
    if n_train_tokens is not None:
        c["n_train_tokens"] = n_train_tokens
    found = [f for check in _LINT_CHECKS if (f := check(c)) is not None]
    return rank(found + [_budget(c)])


def _lint_min_lr(c: dict) -> Finding | None:
    lr, min_lr = c.get("lr"), c.get("min_lr")
    if lr is None or min_lr is None or min_lr <= lr:
        return None
    return Finding(
        "min_lr_above_lr",
        "error",
        f"min_lr={fmt_number(min_lr)} is above lr={fmt_number(lr)}: after warmup the cosine "
        f"phase RAISES the learning rate from {fmt_number(lr)} toward {fmt_number(min_lr)} "
        f"(x{min_lr / lr:.3g}) instead of lowering it. Fix: min_lr <= lr, usually lr/10.",
        {"lr": lr, "min_lr": min_lr},
        "08_learning_rate_and_warmup",
    )


def _lint_scheduler(c: dict) -> Finding | None:
    """The scheduler stepped per micro-step: an error when the schedule's lengths count
    updates (it runs accum times too fast), a warning when they count micro-steps too (it
    spans the run as meant; the harm is that its "iterations" are not updates)."""
    accum = int(c.get("grad_accum_steps", 1))
    if c.get("scheduler_steps_per") != "micro_step" or accum <= 1:
        return None
    data = {
        "grad_accum_steps": accum,
        "max_iters": c["max_iters"],
        "max_steps": c["max_steps"],
        "warmup_updates": c["warmup_steps"],
    }
    if c.get("loop_counts", "micro_step") == "update":
        return Finding(
            "scheduler_per_micro_step",
            "error",
            f"the lr scheduler steps on every micro-step, {accum} times per optimizer update, but "
            f"its warmup ({c['warmup_iters']}) and length are counted in updates: the schedule runs "
            f"{accum}x faster than the updates, ends after 1/{accum} of the run, and the rest trains "
            f"at its last lr. Fix: call scheduler.step() right after optimizer.step().",
            {**data, "counted_in": "update"},
            "08_learning_rate_and_warmup",
        )
    return Finding(
        "scheduler_per_micro_step",
        "warning",
        f"the lr scheduler steps on every micro-step, and its warmup and length are counted in "
        f"micro-steps too, so the schedule spans the run as meant. The harm is in the words: "
        f'max_iters={c["max_iters"]:,} "iterations" are only {c["max_steps"]:,} optimizer updates '
        f"(one per {accum} micro-steps) and warmup {c['warmup_iters']:,} is {c['warmup_steps']:.3g} "
        f"updates; a loss printed at iteration 500 is the loss after {500 // accum} updates. Fix: count "
        f"warmup and max in updates and step the scheduler right after optimizer.step(), so every "
        f"number in the log means updates.",
        {**data, "counted_in": "micro_step"},
        "08_learning_rate_and_warmup",
    )


# One eval measures both splits on eval_batches micro-batches each: a forward pass,
# 1/3 of the compute of a training step (forward + backward = 3 forwards) per token.
EVAL_FORWARD_SHARE = 1 / 3
EVAL_OVERHEAD_WARN = 0.25  # evals costing this share of the training compute are worth fixing


def eval_overhead(c: dict) -> float | None:
    """Compute of the evals / compute of the training between them, or None when unknown."""
    nb, interval = c.get("eval_batches"), c.get("eval_interval")
    if not nb or not interval:
        return None
    micro_between = float(interval) * int(c.get("grad_accum_steps", 1) or 1)  # training micro-batches
    return 2 * nb * EVAL_FORWARD_SHARE / micro_between


def _lint_eval_overhead(c: dict) -> Finding | None:
    cost = eval_overhead(c)
    if cost is None or cost < EVAL_OVERHEAD_WARN:
        return None
    nb, accum = int(c["eval_batches"]), int(c.get("grad_accum_steps", 1) or 1)
    micro = float(c["eval_interval"]) * accum
    tenth = max(1, int(nb / 10))
    return Finding(
        "eval_overhead",
        "warning",
        f"the evals cost ~{cost:.0%} of the training compute: every {micro:,.0f} training micro-batches "
        f"({float(c['eval_interval']):.3g} updates) it evaluates 2 splits x {nb} batches, each a forward "
        f"pass (1/3 of a training step per token): 2 x {nb} / 3 / {micro:,.0f} = {cost:.2f}. The run "
        f"takes ~{1 + cost:.2f}x the time its training needs. Fix: fewer eval batches ({tenth} would cost "
        f"{cost * tenth / nb:.0%}) or evaluate less often.",
        {"eval_cost_fraction": cost, "eval_batches": nb, "micro_batches_between": micro},
        "03_train_and_sample",
    )


def _lint_eval_iters(c: dict) -> Finding | None:
    if not c.get("eval_iters_as_interval"):
        return None
    n = int(c["eval_iters"])
    return Finding(
        "eval_iters_as_interval",
        "warning",
        f"eval_iters={n} is used twice: as the number of iterations between evaluations AND "
        f"as the number of batches per evaluation. Changing it to 'evaluate more often' "
        f"also averages fewer batches (a noisier val loss), and the evals' share of the compute "
        f"(eval_overhead) stays the same whatever the value. Fix: two numbers, eval_interval "
        f"(updates between evals) and eval_batches (batches per eval).",
        {"eval_iters": n, "eval_cost_fraction": eval_overhead(c)},
        "03_train_and_sample",
    )


ADAM_EPS_DEFAULT = 1e-8  # torch's Adam / AdamW default
INITIAL_SCALE = 65536.0  # GradScaler's init_scale


def n_params(c: dict) -> int | None:
    """Parameters of a GPT with tied embeddings: 12 L C^2 + V C + T C, or None when unknown."""
    L, C, V = c.get("n_layer"), c.get("n_embd"), c.get("vocab_size")
    T = c.get("model_block_size") or c.get("block_size") or 0
    return int(12 * L * C * C + V * C + T * C) if L and C and V else None


def _lint_adam_eps(c: dict) -> Finding | None:
    """Clipped while scaled, the true gradient is tiny: per weight about the size of AdamW's eps,
    which then damps every update (m / (sqrt(v) + eps) ~ g / (|g| + eps))."""
    if not (c.get("clip_before_unscale") and c.get("amp_dtype") == "float16" and c.get("grad_clip", 0)):
        return None
    N, eps = n_params(c), float(c.get("adam_eps", ADAM_EPS_DEFAULT))
    total = c["grad_clip"] / INITIAL_SCALE  # the true gradient norm after unscaling
    equal_at = (total / eps) ** 2  # weights at which the per-weight gradient equals eps

    def kept(n: float) -> float:
        g = total / n**0.5
        return g / (g + eps)

    if N:
        per_weight = total / N**0.5
        if eps < 0.1 * per_weight:
            return None
        size = (
            f"spread over {N / 1e6:.1f}M weights that is ~{per_weight:.2g} per weight, the size of AdamW's "
            f"eps={eps:.2g}: each update is g / (|g| + eps), about {kept(N):.0%} of its size"
        )
    else:  # the script does not say the model's size: the sizes where it matters
        if equal_at < 1e6:
            return None
        size = (
            f"per weight that is {total:.2g} / sqrt(weights), equal to AdamW's eps={eps:.2g} at "
            f"{equal_at / 1e6:,.0f}M weights: each update is g / (|g| + eps), about {kept(1e7):.0%} of its size "
            f"at 10M weights, {kept(3e7):.0%} at 30M, {kept(1e8):.0%} at 100M"
        )
    return Finding(
        "adam_eps_damps_updates",
        "warning",
        f"clipped while still scaled, the gradient's true norm is about {c['grad_clip']} / "
        f"{INITIAL_SCALE:.0f} = {total:.2g}; {size} (less for weights with smaller gradients). This "
        f"bites only where fp16 runs (the GradScaler on; a GPU with bf16 runs without it). Fix: unscale "
        f"before clipping (clip_before_unscale); eps 1e-8 is fine then.",
        {
            "true_grad_norm": total,
            "adam_eps": eps,
            "n_params": N,
            "eps_equals_grad_at": equal_at,
            "update_kept": kept(N) if N else None,
        },
        "03_train_and_sample",
    )


def _lint_clip(c: dict) -> Finding | None:
    if not (c.get("clip_before_unscale") and c.get("amp_dtype") == "float16" and c.get("grad_clip", 0)):
        return None
    clip, scale = c["grad_clip"], 65536.0
    return Finding(
        "clip_before_unscale",
        "error",
        f"with fp16 the GradScaler multiplies the loss (by {scale:.0f} at start), and the "
        f"gradients are clipped while still scaled: grad_clip={clip} then cuts every step, to "
        f"a true norm of about {clip / scale:.2g}, so real spikes are never caught. Fix: "
        f"scaler.unscale_(optimizer) before clip_grad_norm_, then scaler.step(optimizer).",
        {"grad_clip": clip, "initial_scale": scale},
        "03_train_and_sample",
    )


def _lint_block_size(c: dict) -> Finding | None:
    model_bs, bs = c.get("model_block_size"), c.get("block_size")
    if model_bs is not None and bs is not None and model_bs != bs:
        return Finding(
            "block_size_mismatch",
            "error",
            f"the model's block_size={model_bs} differs from the training block_size={bs}: "
            + (
                "batches are longer than the position table, the forward pass crashes. "
                if bs > model_bs
                else "the model never sees its last positions. "
            )
            + "Fix: one block_size for model and data.",
            {"block_size": bs, "model_block_size": model_bs},
            "09_batch_size_and_accumulation",
        )
    if c.get("block_size_set_twice"):
        return Finding(
            "block_size_mismatch",
            "warning",
            f"block_size={bs} is set twice, once for the model and once for the batches: "
            f"change only one (as 'block 256' asks) and the run crashes or wastes positions. "
            f"Fix: one block_size that both read.",
            {"block_size": bs, "model_block_size": model_bs},
            "09_batch_size_and_accumulation",
        )
    return None


def _lint_decay(c: dict) -> Finding | None:
    if not (c.get("weight_decay_on_all_params") and c.get("weight_decay", 0) > 0):
        return None
    return Finding(
        "decay_on_norms_and_biases",
        "warning",
        f"weight_decay={c['weight_decay']} is applied to every parameter, LayerNorm gains and "
        f"biases included: decay pulls the norm gains toward 0. Fix: two parameter groups, "
        f"decay on matmul weights and embeddings (dim >= 2) only.",
        {"weight_decay": c["weight_decay"]},
        "07_weight_decay",
    )


def _lint_eot(c: dict) -> Finding | None:
    if c.get("eot_between_documents", True):
        return None
    return Finding(
        "no_eot_between_documents",
        "warning",
        "documents are joined with no end-of-text token: the model is trained to continue "
        "one story into the next with no signal that a new one begins, and cannot learn to "
        "stop. Fix: append <|endoftext|> (id 50256 for GPT-2) after every document.",
        {},
        "01_data_and_tokenizers",
    )


def _lint_warmup(c: dict) -> Finding | None:
    warm, total = float(c.get("warmup_steps", 0)), float(c.get("max_steps", 0))
    if total <= 0 or warm <= 0.2 * total:
        return None
    sev = "error" if warm >= total else "warning"
    return Finding(
        "warmup_too_long",
        sev,
        f"warmup lasts {warm:.4g} of {total:.4g} optimizer updates ({warm / total:.0%}): the run "
        f"spends that share below its peak lr. Warmup of 1-10% of the run (a few hundred updates "
        f"at most at this scale) is the usual choice. Fix: shorten warmup_steps.",
        {"warmup_steps": warm, "max_steps": total, "fraction": warm / total},
        "08_learning_rate_and_warmup",
    )


def _lint_vocab(c: dict) -> Finding | None:
    V, C, L = c.get("vocab_size"), c.get("n_embd"), c.get("n_layer")
    if not (V and C and L):
        return None
    emb, body = V * C, 12 * L * C * C
    T = int(c.get("block_size") or 0)
    head_share = 2 * V * C / (2 * V * C + 24 * L * C * C + 4 * L * T * C)  # forward FLOPs per token
    if emb <= body:
        return None
    return Finding(
        "vocab_dominates_params",
        "warning",
        f"the {V:,}-token embedding holds {emb / 1e6:.1f}M parameters, more than the "
        f"{L} transformer blocks ({body / 1e6:.1f}M, {emb / (emb + body):.0%} of all), and "
        f"the output layer is ~{head_share:.0%} of the forward FLOPs per token. "
        f"Most of that buys rare tokens. Fix for a small model: a smaller vocabulary "
        f"(bpe-4096 trained on the corpus) or a wider model.",
        {"embedding_params": emb, "block_params": body, "head_flop_share": head_share},
        "01_data_and_tokenizers",
    )


def _lint_small_extras(c: dict) -> Finding | None:
    f = c.get("warmup_start_factor")
    if c.get("style") == "notebook" and f is not None and f > 0.05:
        return Finding(
            "warmup_starts_high",
            "info",
            f"LinearLR warmup starts at lr x {f:.3g}, not near 0 (its default start_factor is "
            f"1/3): the first updates already run at a third of the peak lr.",
            {"start_factor": f},
            "08_learning_rate_and_warmup",
        )
    return None


def _lint_resume(c: dict) -> Finding | None:
    if c.get("resume", True):
        return None
    return Finding(
        "no_resume",
        "info",
        "no checkpoint holds model, optimizer, scaler and step: a run "
        "that stops (Colab timeout, crash) starts again from zero.",
        {},
        "03_train_and_sample",
    )


def _budget(c: dict) -> Finding:
    B, A, T = int(c.get("micro_batch_size", 0)), int(c.get("grad_accum_steps", 1)), int(c.get("block_size", 0))
    per_update, updates = B * A * T, int(c.get("max_steps", 0))
    total = per_update * updates
    data = {"tokens_per_update": per_update, "optimizer_updates": updates, "total_tokens": total}
    msg = (
        f"{B} x {A} x {T} = {per_update:,} tokens per update, {updates:,} optimizer updates, "
        f"{fmt_tokens(total)} tokens in all"
    )
    n_train = c.get("n_train_tokens")
    if n_train:
        data["epochs"] = total / n_train
        msg += f", {total / n_train:.3g} epochs over {fmt_tokens(n_train)} train tokens"
    return Finding("budget", "info", msg + ".", data, "09_batch_size_and_accumulation")


_LINT_CHECKS = [
    _lint_min_lr,
    _lint_scheduler,
    _lint_eval_iters,
    _lint_eval_overhead,
    _lint_clip,
    _lint_adam_eps,
    _lint_block_size,
    _lint_decay,
    _lint_eot,
    _lint_warmup,
    _lint_vocab,
    _lint_small_extras,
    _lint_resume,
]
