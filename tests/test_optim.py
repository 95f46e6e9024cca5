"""Muon + AdamW: the orthogonalization, which parameters each takes, the lr, resume, bad input."""

import pytest
import torch

from slmlab import device, optim
from slmlab import train as train_mod
from slmlab.callbacks import Callback, ReplayLR, StopAt
from slmlab.config import ConfigError
from slmlab.data import prepare
from slmlab.model import GPT
from slmlab.presets import preset
from slmlab.train import configure_optimizer, train


def muon_smoke(**kw):
    return preset("smoke", **{"optimizer": "muon", "muon_lr": 0.02, **kw})


@pytest.fixture(scope="module")
def data():
    return prepare(preset("smoke").data)


def test_newton_schulz_makes_every_direction_move_alike():
    torch.manual_seed(0)
    g = torch.randn(48, 16) @ torch.diag(torch.logspace(-2, 0, 16))  # singular values ~180x apart
    for m in (g, g.T):  # tall and wide
        s = torch.linalg.svdvals(optim.newton_schulz(m))
        assert s.min() > 0.6 and s.max() < 1.25  # all near 1 (the quintic is fast, not exact)
    assert optim.newton_schulz(g, dtype=torch.bfloat16).dtype == g.dtype  # back in g's dtype


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest():
    model = GPT(preset("smoke", vocab_size=70).model)
    hidden, rest = optim.muon_split(model)
    assert {id(p) for p in hidden} == {
        id(p) for n, p in model.named_parameters() if n.startswith("blocks.") and p.dim() == 2
    }
    assert any(p is model.wte.weight for p in rest)  # the tied embedding / output layer
    opt = configure_optimizer(model, muon_smoke().train, "cpu")
    assert isinstance(opt, optim.Optimizers) and "lr_scale" not in opt.param_groups[0]  # AdamW: the lr as it is
    optim.set_lr(opt, 1e-3)
    muon_group = opt.param_groups[-1]
    assert muon_group["lr"] == pytest.approx(1e-3 * 0.02 / muon_smoke().train.lr)
    with pytest.raises(ValueError, match="2-D"):
        optim.Muon([torch.nn.Parameter(torch.zeros(3))])


def test_ns_runs_in_bf16_only_where_it_is_native(monkeypatch):
    model = GPT(preset("smoke", vocab_size=70).model)
    for native, want in ((False, torch.float32), (True, torch.bfloat16)):
        monkeypatch.setattr(device, "cpu_has_bf16", lambda native=native: native)
        assert configure_optimizer(model, muon_smoke().train, "cpu").optimizers[1].ns_dtype == want


def test_a_muon_run_learns_and_records_the_schedules_lr(data):
    h = train(muon_smoke(), data=data, progress=False)
    assert h.steps[-1]["loss"] < h.steps[0]["loss"] - 0.5
    assert h.steps[-1]["lr"] == pytest.approx(train_mod.lr_at(39, muon_smoke().train))  # AdamW's lr


def test_a_muon_run_resumes_exactly(tmp_path, data):
    cfg = muon_smoke(max_steps=20, eval_interval=10)
    whole = train(cfg, data=data, progress=False, out_dir=tmp_path / "whole")
    train(cfg, data=data, progress=False, out_dir=tmp_path / "part", callbacks=[StopAt(13)])
    resumed = train(None, resume=tmp_path / "part", data=data, progress=False)
    assert [r["loss"] for r in resumed.steps] == [r["loss"] for r in whole.steps]


def test_replay_lr_scales_muon_with_the_rest(data):
    cfg = muon_smoke(max_steps=3, warmup_steps=1, eval_interval=3)
    seen = []

    class Watch(Callback):
        def on_after_backward(self, trainer):
            seen.append([g["lr"] for g in trainer.optimizer.param_groups])

    train(cfg, data=data, progress=False, callbacks=[ReplayLR([1e-3]), Watch()])
    scale = cfg.train.muon_lr / cfg.train.lr
    assert seen[0][0] == 1e-3 and seen[0][-1] == pytest.approx(1e-3 * scale)


def test_bad_optimizer_settings_are_refused():
    with pytest.raises(ConfigError, match="optimizer='sgd' is unknown"):
        train(preset("smoke", optimizer="sgd"), progress=False)
    with pytest.raises(ConfigError, match="muon_lr"):
        train(muon_smoke(muon_lr=0.0), progress=False)
    with pytest.raises(ConfigError, match="no 2-D weights"):
        configure_optimizer(torch.nn.Sequential(torch.nn.LayerNorm(4)), muon_smoke().train, "cpu")


def test_a_stack_of_matrices_is_orthogonalized_each_on_its_own():
    torch.manual_seed(1)
    stack = torch.randn(3, 20, 8) * torch.tensor([1.0, 10.0, 0.1]).view(3, 1, 1)  # scales differ
    together = optim.newton_schulz(stack)
    for g, t in zip(stack, together, strict=True):
        assert torch.allclose(t, optim.newton_schulz(g), atol=1e-5)
