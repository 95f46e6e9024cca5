"""The GPT: attention against SDPA and a slow reference, causality through gradients, loss at
init, sizes counted by hand, sampling with last-position logits."""

import math

import pytest
import torch

from slmlab.config import ConfigError, ModelConfig
from slmlab.model import GPT


def tiny(**kw) -> GPT:
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=50)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return GPT(cfg)


def test_attention_by_hand_equals_sdpa():
    model = tiny().eval()
    attn = model.blocks[0].attn
    x = torch.randn(3, 10, 32)
    fast = attn(x)
    attn.record_probs = True
    slow = attn(x)
    assert torch.allclose(fast, slow, atol=1e-5)
    probs = attn.last_probs  # (B, H, T, T)
    assert probs.shape == (3, 2, 10, 10)
    assert torch.allclose(probs.sum(-1), torch.ones(3, 2, 10), atol=1e-5)
    assert probs.triu(diagonal=1).abs().max() == 0  # nothing from the future


def slow_attention(attn, x):
    """Causal multi-head attention from the weights, one head and one position at a time.

    Independent of forward's view/transpose path: it reads the layout straight off the
    c_attn matrix (rows [0, C) make q, [C, 2C) k, [2C, 3C) v; head h owns rows
    h*hs .. (h+1)*hs of each) and writes the masked softmax out by hand.
    """
    B, T, C = x.shape
    H = attn.n_head
    hs = C // H
    W = attn.c_attn.weight  # (3C, C)
    out = torch.zeros(B, T, C)
    for h in range(H):
        rows = slice(h * hs, (h + 1) * hs)
        Wq, Wk, Wv = W[rows], W[C:][rows], W[2 * C :][rows]  # each (hs, C)
        for b in range(B):
            q, k, v = x[b] @ Wq.T, x[b] @ Wk.T, x[b] @ Wv.T  # each (T, hs)
            for t in range(T):
                scores = torch.stack([q[t].dot(k[s]) / math.sqrt(hs) for s in range(t + 1)])
                weights = torch.exp(scores - scores.max())
                weights = weights / weights.sum()  # softmax over positions 0..t only
                out[b, t, rows] = sum(weights[s] * v[s] for s in range(t + 1))
    return attn.c_proj(out)


def test_multihead_attention_matches_a_slow_reference():
    model = tiny().eval()
    attn = model.blocks[0].attn
    x = torch.randn(2, 7, 32)
    with torch.no_grad():
        assert torch.allclose(attn(x), slow_attention(attn, x), atol=1e-5)


def test_causality_gradient_of_position_t_reaches_no_later_position():
    model = tiny().eval()
    idx = torch.randint(0, 50, (1, 12))
    emb = model.wte(idx).detach().requires_grad_(True)
    # feed embeddings by hand to take gradients w.r.t. each position's input
    x = emb + model.wpe(torch.arange(12))
    for block in model.blocks:
        x = block(x)
    t = 5
    x[0, t].sum().backward()
    grad_per_pos = emb.grad[0].abs().sum(-1)  # (T,)
    assert torch.all(grad_per_pos[t + 1 :] == 0)
    assert torch.all(grad_per_pos[: t + 1] > 0)


def test_loss_at_init_is_close_to_ln_vocab():
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=64, block_size=32, vocab_size=512)).eval()
    idx = torch.randint(0, 512, (8, 32))
    targets = torch.randint(0, 512, (8, 32))  # not idx: tied weights favour repeating the input
    _, loss = model(idx, targets)
    assert abs(loss.item() - math.log(512)) < 0.1


def test_weight_tying_and_param_counts():
    """Counted by hand for the tiny config: L=2 blocks, C=32 wide, T=16, V=50, no biases.

    wte   V x C = 50 x 32                 1,600  (also the output layer: tied, counted once)
    wpe   T x C = 16 x 32                   512
    per block:
      ln_1, ln_2 weights     2 x 32          64
      attn.c_attn  C x 3C = 32 x 96       3,072
      attn.c_proj  C x C  = 32 x 32       1,024
      mlp.c_fc     C x 4C = 32 x 128      4,096
      mlp.c_proj   4C x C = 128 x 32      4,096
      block total                        12,352  x 2 blocks = 24,704
    ln_f weight                              32
    total  1,600 + 512 + 24,704 + 32 =   26,848;  without wte and wpe: 24,736

    flops per token = 6 x (26,848 - 512 position weights) + 12 x L x T x C
                    = 6 x 26,336 + 12 x 2 x 16 x 32 = 158,016 + 12,288 = 170,304
    """
    model = tiny()
    assert model.lm_head.weight is model.wte.weight
    assert model.num_params() == 26_848
    assert model.num_params(non_embedding=True) == 24_736
    assert model.flops_per_token() == 170_304


def test_param_count_with_biases():
    """bias=True adds, per block: c_attn 96 + c_proj 32 + c_fc 128 + mlp.c_proj 32 + two
    LayerNorm biases 64 = 352; x 2 blocks + ln_f's bias 32 = 736 more: 27,584."""
    assert tiny(bias=True).num_params() == 27_584


def test_residual_projections_have_scaled_init():
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=8, n_head=4, n_embd=256, block_size=8, vocab_size=100))
    std = model.blocks[0].mlp.c_proj.weight.std().item()
    assert abs(std - 0.02 / math.sqrt(16)) < 0.001
    assert abs(model.blocks[0].mlp.c_fc.weight.std().item() - 0.02) < 0.002


def test_generate_shapes_greedy_determinism_and_top_k():
    model = tiny()
    idx = torch.zeros(2, 3, dtype=torch.long)
    a = model.generate(idx, 20, temperature=0)
    b = model.generate(idx, 20, temperature=0)
    assert a.shape == (2, 23) and torch.equal(a, b)  # greedy is deterministic, crops to block_size
    g = torch.Generator().manual_seed(1)
    out = model.generate(idx, 5, temperature=1.0, top_k=1, generator=g)
    assert torch.equal(out, model.generate(idx, 5, temperature=0))  # top-1 sampling == greedy
    assert model.training  # generate restores the mode


def test_generate_with_last_position_logits_draws_the_same_tokens(monkeypatch):
    """generate asks only for the last position's logits; with the full (B, T, V) logits
    (the slow way) a seeded run samples the very same token ids, across the crop to
    block_size (3 + 30 tokens > 16)."""
    model = tiny()
    idx = torch.randint(0, 50, (2, 3), generator=torch.Generator().manual_seed(0))
    fast = model.generate(idx, 30, temperature=1.0, generator=torch.Generator().manual_seed(7))
    assert model(idx, last_only=True)[0].shape == (2, 1, 50)
    monkeypatch.setattr(
        model, "forward", lambda i, targets=None, last_only=False: GPT.forward(model, i, targets)
    )  # ignore last_only: full logits
    assert model(idx)[0].shape == (2, 3, 50)
    slow = model.generate(idx, 30, temperature=1.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(fast, slow)
    assert not torch.equal(fast, model.generate(idx, 30, generator=torch.Generator().manual_seed(8)))


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ConfigError, match="vocab_size"):
        GPT(ModelConfig())
    with pytest.raises(ValueError, match="block_size"):
        tiny()(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature"):
        tiny().generate(torch.zeros(1, 1, dtype=torch.long), 1, temperature=-1)
