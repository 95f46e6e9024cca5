"""Script lint: a student's training script or notebook, read with `ast`, never run.

`lint_script(path)` reads a .py file or the code cells of a .ipynb and returns the
same Findings `config_lint.lint` gives a JSON config, each with the line it came
from (`Finding.line`, `Finding.where`: "line 9", "cell 17, line 3"). `lint_file`
takes any of the three (.json, .py, .ipynb); the CLI's `lint` calls it.
`read_script(path)` is what the lint understood: the settings in the notebook's
words plus facts about the calls, and the line of each.

How it reads, without importing or executing anything of the file:
- settings: assignments outside loops (module level, function bodies, class
  attributes as defaults, dict literals and dict(...), argparse defaults) of known
  names (learning_rate, max_iters, ... and a few aliases such as lr, warmup_iters),
  folded by a tiny evaluator over constants, + - * / // % ** and names already known;
- calls: the optimizer (AdamW(model.parameters(), ...) decays every parameter; its eps),
  LinearLR / CosineAnnealingLR / SequentialLR, the loop that steps the optimizer
  (inside `if (i + 1) % accum == 0:` means one micro-batch per iteration), where
  scheduler.step() sits, clip_grad_norm_ against GradScaler and unscale_, the
  `if i % N == 0:` that evaluates and whether N is also a batch count, the model
  config's block_size, encode calls without an end-of-text token, a resume.
The checks themselves are config_lint's (_LINT_CHECKS); this module only reads.
"""

from __future__ import annotations

import ast
import json
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config_lint import lint as lint_config
from .findings import Finding, fmt_number, rank

__all__ = [
    "Source",
    "ScriptFacts",
    "parse_source",
    "read_source",
    "read_script",
    "lint_script",
    "lint_file",
    "SCRIPT_SUFFIXES",
]

SCRIPT_SUFFIXES = (".py", ".ipynb")
_KINDS = "a JSON config file, a training script (.py) or a notebook (.ipynb)"

# ---------------------------------------------------------------------------
# Sources: a .py file or a notebook's code cells, parsed into one ast.Module


@dataclass
class Source:
    """A parsed file: one ast.Module, and how its line numbers map back to the file."""

    tree: ast.Module
    name: str  # the file's name, for messages
    kind: str  # "script" or "notebook"
    cells: list[tuple[int, int]] = field(default_factory=list)  # (first joined line - 1, cell number)
    skipped: list[int] = field(default_factory=list)  # notebook cells that do not parse

    def place(self, line: int) -> tuple[int, str]:
        """(line in the file or cell, the place in words) of a line of the tree."""
        if self.kind != "notebook":
            return line, f"line {line}"
        offset, cell = max((c for c in self.cells if c[0] < line), default=(0, 0))
        return line - offset, f"cell {cell}, line {line - offset}"


def parse_source(text: str, name: str = "<script>") -> Source:
    """A Python script's text parsed; a syntax error is one ValueError line."""
    try:
        return Source(ast.parse(text, filename=name), name, "script")
    except (SyntaxError, ValueError) as e:  # ValueError: null bytes
        where = f" at line {e.lineno}" if getattr(e, "lineno", None) else ""
        raise ValueError(
            f"cannot parse {name} as Python ({getattr(e, 'msg', e)}{where}); lint reads {_KINDS}, without running it"
        ) from None


def _notebook(text: str, name: str) -> Source:
    """The code cells of a notebook, each parsed alone; cells that do not parse are skipped."""
    try:
        cells = json.loads(text)["cells"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"cannot read {name} as a notebook (no JSON with 'cells'); lint reads {_KINDS}") from None
    body, spans, skipped, offset = [], [], [], 0
    for number, cell in enumerate(cells, start=1):  # cell numbers count every cell, from 1
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        code = _without_magics("".join(src) if isinstance(src, list) else str(src))
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            skipped.append(number)
            continue
        ast.increment_lineno(tree, offset)
        body += tree.body
        spans.append((offset, number))
        offset += code.count("\n") + 1
    if not spans:
        raise ValueError(f"{name} has no code cell that parses as Python; lint reads {_KINDS}")
    return Source(ast.Module(body=body, type_ignores=[]), name, "notebook", spans, skipped)


def _without_magics(code: str) -> str:
    """IPython lines (!pip, %time, %%capture) become `pass`, so the line numbers stay."""
    lines = code.split("\n")
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("!", "%")):
            lines[i] = line[: len(line) - len(stripped)] + "pass"
    return "\n".join(lines)


def read_source(path) -> Source:
    """The file at `path` parsed: .ipynb as a notebook, anything else as Python."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read {path} ({e}); lint reads {_KINDS}") from None
    return _notebook(text, p.name) if p.suffix == ".ipynb" else parse_source(text, p.name)


# ---------------------------------------------------------------------------
# Folding: constant expressions, and names already known, to numbers

_UNKNOWN = object()
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_LIMIT = 1e18  # bigger numbers are not settings: refuse them (no 10**10**10)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _fold(node, known: dict) -> Any:
    """The value of `node` from constants and `known` names, or _UNKNOWN. Never evaluates code."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return node.value
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        key = _key(node)
        return known[key][0] if key in known else _UNKNOWN
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _fold(node.operand, known)
        return (-v if isinstance(node.op, ast.USub) else v) if _number(v) else _UNKNOWN
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _binop(node, known)
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_fold(e, known) for e in node.elts]
        return _UNKNOWN if any(i is _UNKNOWN for i in items) else tuple(items)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and len(node.args) == 1
        and node.func.id in ("int", "float")
    ):
        v = _fold(node.args[0], known)
        return (int if node.func.id == "int" else float)(v) if _number(v) else _UNKNOWN
    return _UNKNOWN


def _binop(node: ast.BinOp, known: dict) -> Any:
    a, b = _fold(node.left, known), _fold(node.right, known)
    if not (_number(a) and _number(b)) or abs(a) > _LIMIT or abs(b) > _LIMIT:
        return _UNKNOWN
    if isinstance(node.op, ast.Pow) and (abs(b) > 64 or abs(a) > 1e6):
        return _UNKNOWN
    try:
        v = _OPS[type(node.op)](a, b)
    except (ZeroDivisionError, OverflowError, ValueError):
        return _UNKNOWN
    return v if _number(v) and abs(v) <= _LIMIT else _UNKNOWN


def _key(node) -> str | None:
    """The name a value is known by: x, cfg.x (x), config['x'] (x); lower case."""
    if isinstance(node, ast.Name):
        return node.id.lower()
    if isinstance(node, ast.Attribute):
        return node.attr.lower()
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value.lower()
    return None


def _call_name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _receiver(call: ast.Call) -> str:
    """`scheduler` in scheduler.step(), `torch.nn.utils` in torch.nn.utils.clip_grad_norm_()."""
    return ast.unparse(call.func.value) if isinstance(call.func, ast.Attribute) else ""


def _arg(call: ast.Call, name: str, position: int | None = None):
    """The node passed as keyword `name` or at `position`, or None."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    if position is not None and len(call.args) > position:
        return call.args[position]
    return None


# ---------------------------------------------------------------------------
# Settings: the notebook's words, and the other names scripts give them

_SETTINGS = {
    "learning_rate": ("lr", "max_lr", "peak_lr", "base_lr"),
    "max_iters": ("max_steps", "num_iters", "n_iters", "total_steps", "num_steps", "train_steps"),
    "warmup_steps": ("warmup_iters", "num_warmup_steps"),
    "min_lr": ("eta_min", "final_lr"),
    "eval_iters": (),
    "eval_interval": ("eval_every", "eval_freq"),
    "batch_size": ("micro_batch_size", "train_batch_size"),
    "block_size": ("context_length", "seq_len", "ctx_len", "max_seq_len", "sequence_length"),
    "gradient_accumulation_steps": ("grad_accum_steps", "accumulation_steps", "grad_accum", "accum_steps"),
    "dropout": (),
    "vocab_size": (),
    "weight_decay": (),
    "beta1": (),
    "beta2": (),
    "n_layer": ("n_layers", "num_layers"),
    "n_head": ("n_heads", "num_heads"),
    "n_embd": ("n_embed", "d_model", "emb_dim"),
    "grad_clip": ("max_grad_norm", "clip_grad", "grad_norm_clip"),
    "adam_eps": ("adam_epsilon", "adamw_eps"),  # the optimizer call's eps= (a bare `eps` is often LayerNorm's)
}
_WORD = {alias: word for word, aliases in _SETTINGS.items() for alias in (word, *aliases)}
_MODEL_WORDS = ("block_size", "vocab_size", "n_layer", "n_head", "n_embd", "dropout")


def _is_loop(node) -> bool:
    return isinstance(node, (ast.For, ast.While, ast.AsyncFor))


def _assignments(tree: ast.Module) -> tuple[list, list]:
    """(settings, class defaults): (line, name, value node) outside loops, in source order."""
    items, defaults = [], []

    def visit(node, in_class: bool):
        for child in ast.iter_child_nodes(node):
            if _is_loop(child) or isinstance(child, (ast.Lambda, ast.comprehension)):
                continue
            out = defaults if in_class else items
            out.extend(_pairs(child))
            visit(child, isinstance(child, ast.ClassDef) or (in_class and not isinstance(child, ast.FunctionDef)))

    visit(tree, False)
    return sorted(items, key=lambda t: t[0]), defaults


def _pairs(node) -> list[tuple[int, str, ast.AST]]:
    """(line, name, value) pairs one statement or call sets."""
    out = []
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            if isinstance(t, ast.Tuple) and isinstance(node.value, ast.Tuple) and len(t.elts) == len(node.value.elts):
                out += [(node.lineno, _key(n), v) for n, v in zip(t.elts, node.value.elts)]
            elif _key(t):
                out.append((node.lineno, _key(t), node.value))
        if isinstance(node.value, ast.Dict):
            out += [
                (v.lineno, k.value, v)
                for k, v in zip(node.value.keys, node.value.values)
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            ]
    elif isinstance(node, ast.Call) and _call_name(node) == "dict":
        out += [(kw.value.lineno, kw.arg, kw.value) for kw in node.keywords if kw.arg]
    elif (
        isinstance(node, ast.Call)
        and _call_name(node) == "add_argument"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and str(node.args[0].value).startswith("--")
    ):
        default = _arg(node, "default")
        if default is not None:
            out.append((node.lineno, str(node.args[0].value).lstrip("-").replace("-", "_"), default))
    return [(line, str(name).lower(), v) for line, name, v in out if name]


# ---------------------------------------------------------------------------
# The reader: settings, then what the calls show

_OPTIMIZERS = {"AdamW", "Adam", "SGD", "RMSprop", "Adagrad", "Adafactor", "Lion", "NAdam", "RAdam"}
_HF_SCHEDULERS = {
    "get_scheduler",
    "get_cosine_schedule_with_warmup",
    "get_linear_schedule_with_warmup",
    "get_constant_schedule_with_warmup",
}
_DEFAULT_DECAY = {"AdamW": 0.01}  # torch's defaults; the other optimizers decay nothing


@dataclass
class ScriptFacts:
    """What the lint understood of a script: settings and facts, and where each came from."""

    config: dict  # the notebook's words (learning_rate, ...) plus facts (scheduler_steps_per, ...)
    lines: dict  # finding code -> (line of the tree, detail or None)
    origins: dict  # setting -> line of the tree it was read from
    calls: list  # (line of the tree, what, note): the optimizer, schedulers, the loop
    source: Source

    def where(self, code: str) -> tuple[int, str] | None:
        """(line, place in words) for a finding code, or None."""
        if code not in self.lines:
            return None
        line, detail = self.lines[code]
        n, place = self.source.place(line)
        return n, place + (f"; {detail}" if detail else "")


class _Reader:
    def __init__(self, source: Source):
        self.src, self.tree = source, source.tree
        self.parents = {c: n for n in ast.walk(self.tree) for c in ast.iter_child_nodes(n)}
        self.calls = sorted(
            (n for n in ast.walk(self.tree) if isinstance(n, ast.Call)), key=lambda c: (c.lineno, c.col_offset)
        )
        self.known: dict[str, tuple[Any, int]] = {}  # name -> (value, line)
        self.settings: dict[str, tuple[Any, int]] = {}  # notebook word -> (value, line)
        self.facts: dict[str, Any] = {}
        self.lines: dict[str, tuple[int, str | None]] = {}
        self.seen: list[tuple[int, str, str]] = []  # (line, what, note): what the summary names
        self.warmup_from_scheduler = False  # LinearLR's total_iters gave warmup_steps

    # -- small helpers
    def ancestors(self, node) -> list:
        out = []
        while node in self.parents:
            node = self.parents[node]
            out.append(node)
        return out

    def value(self, node) -> tuple[Any, int | None]:
        """(folded value, line the number was written on) of an expression."""
        v = _fold(node, self.known)
        key = _key(node)
        return v, (self.known[key][1] if key in self.known else getattr(node, "lineno", None))

    def named(self, names) -> list[ast.Call]:
        return [c for c in self.calls if _call_name(c) in names]

    def assigned_to(self, call) -> str | None:
        parent = self.parents.get(call)
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
            return _key(parent.targets[0])
        return None

    def set(self, word: str, node, *, override: bool = True) -> None:
        v, line = self.value(node)
        if v is not _UNKNOWN and (override or word not in self.settings):
            self.settings[word] = (v, line)

    # -- settings
    def read_settings(self) -> None:
        items, defaults = _assignments(self.tree)
        for line, name, node in defaults + items:  # class defaults first: later lines win
            v = _fold(node, self.known)
            if v is _UNKNOWN:
                continue
            self.known[name] = (v, line)
            if name in _WORD:
                self.settings[_WORD[name]] = (v, line)
        self.read_model_config()

    def read_model_config(self) -> None:
        """GPTConfig(block_size=...) / GPT(...): model settings; a block_size of its own."""
        for call in self.calls:
            name = _call_name(call)
            if not (name.endswith("Config") or name in ("GPT", "GPTModel")):
                continue
            for kw in call.keywords:
                word = _WORD.get((kw.arg or "").lower())
                if (
                    word == "block_size"
                    and "block_size" in self.settings
                    and _key(kw.value) not in ("block_size", *_SETTINGS["block_size"])
                ):
                    self.set("model_block_size", kw.value)
                    train_at = self.src.place(self.settings["block_size"][1])[1]
                    self.lines["block_size_mismatch"] = (
                        kw.value.lineno,
                        f"the model's; the training block_size at {train_at}",
                    )
                elif word in _MODEL_WORDS:
                    self.set(word, kw.value, override=False)

    # -- the optimizer
    def read_optimizer(self) -> None:
        calls = self.named(_OPTIMIZERS)
        if not calls:
            return
        call = calls[0]
        name = _call_name(call)
        self.seen.append((call.lineno, f"optimizer {name}", ""))
        params = _arg(call, "params", 0)
        self.facts["weight_decay_on_all_params"] = self.all_parameters(params)
        decay = _arg(call, "weight_decay")
        if decay is not None:
            self.set("weight_decay", decay)
        elif self.facts["weight_decay_on_all_params"]:  # groups carry their own decay
            self.settings["weight_decay"] = (_DEFAULT_DECAY.get(name, 0.0), call.lineno)
        if name in ("Adam", "AdamW"):
            eps = _arg(call, "eps")
            if eps is not None:
                self.set("adam_eps", eps)
            else:
                self.settings.setdefault("adam_eps", (1e-8, call.lineno))  # torch's default
            self.lines["adam_eps_damps_updates"] = (self.settings["adam_eps"][1], None)
        for word, node in (("learning_rate", _arg(call, "lr", 1)), ("betas", _arg(call, "betas"))):
            if node is not None:
                self.set(word, node)
        betas = self.settings.pop("betas", (None,))[0]
        if isinstance(betas, tuple) and len(betas) == 2:
            self.settings["beta1"], self.settings["beta2"] = ((b, call.lineno) for b in betas)
        self.lines["decay_on_norms_and_biases"] = (call.lineno, None)

    def all_parameters(self, node) -> bool:
        """model.parameters(), list(model.parameters()), or a name bound to one: no groups."""
        if isinstance(node, ast.Name):
            bound = [
                a.value
                for a in ast.walk(self.tree)
                if isinstance(a, ast.Assign) and any(_key(t) == node.id.lower() for t in a.targets)
            ]
            return bool(bound) and self.all_parameters(bound[-1])
        if isinstance(node, ast.Call) and _call_name(node) in ("list", "tuple") and node.args:
            return self.all_parameters(node.args[0])
        return isinstance(node, ast.Call) and _call_name(node) == "parameters"

    # -- the schedulers
    def read_schedulers(self) -> None:
        for call in self.calls:
            name = _call_name(call)
            if name.endswith("LR") or name in _HF_SCHEDULERS:
                self.seen.append((call.lineno, name, ""))
            if name == "LinearLR":
                self.read_linear(call)
            elif name == "CosineAnnealingLR":
                self.read_cosine(call)
            elif name == "SequentialLR":
                self.read_sequential(call)
            elif name in _HF_SCHEDULERS:
                node = _arg(call, "num_warmup_steps", 2 if name == "get_scheduler" else 1)
                if node is not None:
                    self.set("warmup_steps", node)

    def read_sequential(self, call: ast.Call) -> None:
        """SequentialLR's first milestone: the warmup length, unless LinearLR said it."""
        node = _arg(call, "milestones", 2)
        if node is None or not isinstance(node, (ast.List, ast.Tuple)) or not node.elts:
            return
        v, line = self.value(node.elts[0])
        if _number(v) and not self.warmup_from_scheduler:
            self.settings["warmup_steps"] = (v, line)

    def read_linear(self, call: ast.Call) -> None:
        start_node, end_node = _arg(call, "start_factor", 1), _arg(call, "end_factor", 2)
        start = _fold(start_node, self.known) if start_node is not None else 1 / 3  # torch's default
        end = _fold(end_node, self.known) if end_node is not None else 1.0
        if not (_number(start) and _number(end) and start < end):
            return  # not a warmup (a linear decay, or numbers we cannot read)
        self.facts["warmup_start_factor"] = start
        self.lines["warmup_starts_high"] = (
            call.lineno,
            None if start_node is not None else "LinearLR without start_factor",
        )
        total = _arg(call, "total_iters", 3)
        if total is not None and _number(_fold(total, self.known)):
            self.set("warmup_steps", total)
            self.warmup_from_scheduler = True

    def read_cosine(self, call: ast.Call) -> None:
        node = _arg(call, "eta_min", 2)
        if node is None:
            self.settings["min_lr"] = (0.0, call.lineno)  # torch's default eta_min
            return
        v, line = self.value(node)
        if _number(v):
            self.settings["min_lr"] = (v, line)
            detail = (
                None if line == call.lineno else f"eta_min of CosineAnnealingLR at {self.src.place(call.lineno)[1]}"
            )
            self.lines["min_lr_above_lr"] = (line, detail)

    # -- the training loop
    def optimizer_step(self) -> ast.Call | None:
        """The first optimizer.step() / scaler.step(optimizer) inside a loop."""
        optimizers = {self.assigned_to(c) for c in self.named(_OPTIMIZERS)} - {None}
        for call in self.named({"step"}):
            recv = _receiver(call).lower()
            if (recv in optimizers or "optim" in recv or "scaler" in recv) and any(
                _is_loop(a) for a in self.ancestors(call)
            ):
                return call
        return None

    def read_loop(self) -> None:
        step = self.optimizer_step()
        if step is None:
            return
        up = self.ancestors(step)
        loop = next(a for a in up if _is_loop(a))
        accum_if = next((a for a in up[: up.index(loop)] if isinstance(a, ast.If) and _mod(a.test)), None)
        self.facts["loop_counts"] = "micro_step" if accum_if is not None else "update"
        if accum_if is not None:
            self.set("gradient_accumulation_steps", _mod(accum_if.test).right, override=False)
        self.read_loop_length(loop)
        what = "one micro-batch per iteration" if accum_if is not None else "one update per iteration"
        self.seen.append((loop.lineno, "training loop", what))
        self.read_scheduler_step(step, loop, accum_if)
        self.read_eval(loop, accum_if)
        self.read_resume(loop)

    def read_loop_length(self, loop) -> None:
        it = getattr(loop, "iter", None)
        while isinstance(it, ast.Call) and _call_name(it) != "range" and it.args:
            it = it.args[0]  # tqdm(range(n)), enumerate(range(n))
        if isinstance(it, ast.Call) and _call_name(it) == "range" and len(it.args) in (1, 2):
            self.set("max_iters", it.args[-1])
            if len(it.args) == 2 and _number(_fold(it.args[0], self.known)) and "max_iters" in self.settings:
                first = _fold(it.args[0], self.known)
                self.settings["max_iters"] = (self.settings["max_iters"][0] - first, self.settings["max_iters"][1])

    def read_scheduler_step(self, step, loop, accum_if) -> None:
        schedulers = {
            self.assigned_to(c) for c in self.calls if _call_name(c).endswith("LR") or _call_name(c) in _HF_SCHEDULERS
        } - {None}
        for call in self.named({"step"}):
            recv = _receiver(call).lower()
            if not (recv in schedulers or "sched" in recv):
                continue
            up = self.ancestors(call)
            if loop not in up:
                continue
            inner = [a for a in up[: up.index(loop)] if _is_loop(a)]
            outside_if = accum_if is not None and accum_if not in up
            per_micro = outside_if or any(a not in self.ancestors(step) for a in inner)
            self.facts["scheduler_steps_per"] = "micro_step" if per_micro else "update"
            self.lines["scheduler_per_micro_step"] = (call.lineno, None)
            return

    def read_eval(self, loop, accum_if) -> None:
        """`if i % N == 0: evaluate` in the loop: is N also a batch count (range(N))?"""
        self.facts["eval_iters_as_interval"] = False
        accum = _key(_mod(accum_if.test).right) if accum_if is not None else None
        ifs = [n for n in ast.walk(loop) if isinstance(n, ast.If) and n is not accum_if and _mod(n.test)]
        for node in ifs:
            name = _key(_mod(node.test).right)
            if not name or name == accum or name not in self.known or not _evaluates(node, name):
                continue
            evidence = self.batch_count_use(name, node)
            value = self.known[name][0]
            if evidence is None:
                self.settings.setdefault("eval_interval", (value, node.lineno))
                continue
            self.settings["eval_iters"] = (value, self.known[name][1])
            self.facts["eval_iters_as_interval"] = True
            self.lines["eval_iters_as_interval"] = (node.test.lineno, evidence)
            return

    def batch_count_use(self, name: str, eval_if: ast.If) -> str | None:
        """Where `name` is also a number of batches, in words; None if nowhere visible."""
        for call in self.named({"range", "zeros"}):
            if call.args and _key(call.args[0]) == name:
                return f"the eval batches: {_call_name(call)}({name}) at {self.src.place(call.lineno)[1]}"
        defined = {n.name for n in ast.walk(self.tree) if isinstance(n, ast.FunctionDef)}
        for call in (n for n in ast.walk(eval_if) if isinstance(n, ast.Call)):
            fn = _call_name(call)
            if _WORD.get(name) == "eval_iters" and fn not in defined and ("loss" in fn or "eval" in fn):
                return f"the eval batches: {fn}(), not in this file, averages {name} batches in nanoGPT-style code"
        return None

    def read_resume(self, loop) -> None:
        optimizers = {self.assigned_to(c) for c in self.named(_OPTIMIZERS)} - {None}
        loads = [
            c
            for c in self.named({"load_state_dict"})
            if _receiver(c).lower() in optimizers or "optim" in _receiver(c).lower()
        ]
        self.facts["resume"] = bool(loads) or any("resume" in w for w in self.words())
        saves = [c for c in self.named({"save"}) if _receiver(c) == "torch"]
        self.lines["no_resume"] = ((saves[0] if saves else loop).lineno, None)

    # -- gradients and data
    def read_clip(self) -> None:
        clips = [
            c for c in self.named({"clip_grad_norm_", "clip_grad_norm"}) if "accelerator" not in _receiver(c).lower()
        ]
        if not clips:
            return
        clip = clips[0]
        node = _arg(clip, "max_norm", 1)
        if node is not None:
            self.set("grad_clip", node)
        scalers = [
            c
            for c in self.named({"GradScaler"})
            if not (isinstance(_arg(c, "enabled"), ast.Constant) and not _arg(c, "enabled").value)
        ]
        if scalers:
            self.facts["amp_dtype"] = "float16"  # a GradScaler only scales under fp16
            unscaled = any(c.lineno <= clip.lineno for c in self.named({"unscale_"}))
            self.facts["clip_before_unscale"] = not unscaled
            self.lines["clip_before_unscale"] = (clip.lineno, None)

    def read_eot(self) -> None:
        encodes = self.named({"encode", "encode_ordinary", "encode_ordinary_batch", "encode_batch"})
        if not encodes:
            return
        words = self.words()
        marks = ("eot", "endoftext", "eos_token", "eos_id")
        self.facts["eot_between_documents"] = "50256" in words or any(m in w for w in words for m in marks)
        self.lines["no_eot_between_documents"] = (encodes[0].lineno, None)

    def words(self) -> list[str]:
        """Every name, attribute, keyword and constant of the file, lower case."""
        out = []
        for n in ast.walk(self.tree):
            if isinstance(n, ast.Name):
                out.append(n.id)
            elif isinstance(n, (ast.Attribute, ast.keyword)):
                out.append(n.attr if isinstance(n, ast.Attribute) else n.arg or "")
            elif isinstance(n, ast.Constant):
                out.append(str(n.value))
        return [w.lower() for w in out]

    def facts_and_lines(self) -> ScriptFacts:
        self.read_settings()
        self.read_optimizer()
        self.read_schedulers()
        self.read_clip()
        self.read_loop()
        self.read_eot()
        self.settings = {w: vl for w, vl in self.settings.items() if _number(vl[0])}  # no strings, None
        config = {word: v for word, (v, _) in self.settings.items()}
        config.update(self.facts)
        origins = {word: line for word, (_, line) in self.settings.items()}
        for code, word in (("warmup_too_long", "warmup_steps"), ("vocab_dominates_params", "vocab_size")):
            if word in origins:
                self.lines.setdefault(code, (origins[word], None))
        return ScriptFacts(config, self.lines, origins, sorted(self.seen), self.src)


def _evaluates(node: ast.If, name: str) -> bool:
    """An `if i % N == 0:` that evaluates: N is named eval..., or its body calls an eval or loss."""
    calls = [_call_name(c).lower() for c in ast.walk(node) if isinstance(c, ast.Call)]
    return "eval" in name or any(w in c for c in calls for w in ("eval", "estimate", "loss"))


def _mod(test) -> ast.BinOp | None:
    """The first `x % n` inside an if's test, or None."""
    return next((n for n in ast.walk(test) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mod)), None)


# ---------------------------------------------------------------------------
# Lint: read, run config_lint's checks, put the lines on the findings


def read_script(path) -> ScriptFacts:
    """What the lint reads in a .py or .ipynb file, never running it."""
    return _Reader(read_source(path)).facts_and_lines()


def lint_script(path, *, n_train_tokens: int | None = None) -> list[Finding]:
    """config_lint's findings for a training script or notebook, each with its line."""
    facts = read_script(path)
    if not facts.config:
        raise ValueError(
            f"{facts.source.name}: no training settings found in it (learning_rate, "
            f"max_iters, an optimizer, a scheduler, ...); lint reads {_KINDS}"
        )
    found = lint_config(facts.config, words="notebook", n_train_tokens=n_train_tokens)
    for f in found:
        place = facts.where(f.code)
        if place is not None:
            f.line, f.where = place
    return rank(found + [_what_was_read(facts)])


def _what_was_read(facts: ScriptFacts) -> Finding:
    src = facts.source
    shown = [
        f"{w}={v if isinstance(v, int) else fmt_number(v)} ({src.place(facts.origins[w])[1]})"
        for w, v in facts.config.items()
        if w in _WORD and facts.origins.get(w)
    ]
    calls = [f"{what} at {src.place(line)[1]}" + (f" ({note})" if note else "") for line, what, note in facts.calls]
    msg = (
        f"read {src.name} as a {'notebook' if src.kind == 'notebook' else 'Python script'}, "
        f"without running it: "
        + (", ".join(shown) or "no settings")
        + ("; " + ", ".join(calls) if calls else "; no optimizer, scheduler or training loop")
    )
    if src.skipped:
        msg += f"; skipped cells that do not parse as Python: {', '.join(map(str, src.skipped))}"
    return Finding(
        "script_read",
        "info",
        msg + ".",
        {"settings": {w: facts.config[w] for w in facts.config if w in _WORD}, "skipped_cells": src.skipped},
    )


def lint_file(path, *, n_train_tokens: int | None = None) -> list[Finding]:
    """lint a .json config, a .py training script or a .ipynb notebook."""
    p = Path(path)
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise ValueError(
            f"lint {path}: {what}; give a JSON config file, a training script (.py) or a notebook (.ipynb)"
        )
    if p.suffix in SCRIPT_SUFFIXES:
        return lint_script(p, n_train_tokens=n_train_tokens)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(
            f"cannot read {path} as JSON ({e}); lint reads a JSON config file, "
            f"such as a run folder's config.json, a training script (.py) or a "
            f"notebook (.ipynb)"
        ) from None
    if not isinstance(raw, dict):
        raise ValueError(
            f"{path} holds a JSON {type(raw).__name__}, not an object; write the "
            f'config as {{"learning_rate": 1e-4, ...}} or slmlab\'s {{"train": ...}}'
        )
    return lint_config(raw, n_train_tokens=n_train_tokens)
