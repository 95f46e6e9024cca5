"""The callback contract: the Trainer meets TrainerView, and slmlab's callbacks use nothing else."""

import ast
from pathlib import Path

from slmlab import callbacks
from slmlab.callbacks import TrainerView
from slmlab.data import prepare
from slmlab.presets import preset
from slmlab.train import Trainer

PACKAGE = Path(callbacks.__file__).parent
VIEW = set(TrainerView.__annotations__) | {"seconds", "evaluate", "request_stop"}


def test_the_trainer_meets_the_view_callbacks_are_typed_against():
    cfg = preset("smoke")
    trainer = Trainer(cfg, data=prepare(cfg.data), progress=False)
    assert isinstance(trainer, TrainerView)
    assert VIEW <= set(dir(trainer))


def _callback_uses(tree: ast.Module):
    """(line, attribute) of every `trainer.X` read in a Callback subclass's methods."""
    for cls in ast.walk(tree):
        bases = [getattr(b, "id", getattr(b, "attr", "")) for b in getattr(cls, "bases", [])]
        if not isinstance(cls, ast.ClassDef) or not any(b.endswith("Callback") for b in bases):
            continue
        for node in ast.walk(cls):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "trainer":
                yield node.lineno, node.attr


def test_slmlab_callbacks_use_only_what_the_view_names():
    """A callback that needs more of the Trainer widens TrainerView first, on purpose."""
    outside = [
        f"{path.relative_to(PACKAGE.parent)}:{line} trainer.{attr}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, attr in _callback_uses(ast.parse(path.read_text()))
        if attr not in VIEW
    ]
    assert not outside, "callbacks reach past TrainerView: " + ", ".join(outside)
