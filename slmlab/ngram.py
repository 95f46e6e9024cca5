"""An n-gram source: unlimited text with a real corpus's token statistics, and its exact log-probs.

`TrigramSource.fit(tokens, vocab_size)` counts the trigrams, bigrams and unigrams of a token
stream (the 2 MB TinyStories sample in GPT-2 tokens, say) and mixes them with fixed weights
(`WEIGHTS`): p(x | a, b) = w3 p3(x | a, b) + w2 p2(x | b) + w1 p1(x), where an order whose
context never occurred gives its weight to the others. `sample(n, seed)` draws n tokens as
many independent chains at once, each starting as if a story had just ended, with torch ops
(on a GPU, a hundred million tokens in seconds), and returns their exact log-probs too:
the mean -ln p of a sampled val split is the loss of the source itself on it, the floor no
model can go below (up to sampling noise; the `entropy floor` rung of the loss ladder).

Why it exists: TinyStories is hundreds of MB and a GPU machine without a network has only
the sample, which a 625-update run would read 160 times over. Sampled from the sample's
statistics, the text never runs out, uses the tokens TinyStories uses (a few thousand of
GPT-2's 50,257), and has a known floor. It is not TinyStories: its text is a remix of the
sample's word triples, so losses past the first few hundred updates are not the real
corpus's. slmlab.gpu_study trains on it; nothing else in slmlab depends on it.

Uses torch and numpy only; knows no tokenizer, model or trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["WEIGHTS", "TrigramSource"]

WEIGHTS = (0.90, 0.08, 0.02)  # (trigram, bigram, unigram): mostly the corpus's own triples


def _counted(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted unique keys and the inclusive cumulative sum of their counts."""
    uniq, counts = torch.unique(keys, sorted=True, return_counts=True)
    return uniq, torch.cumsum(counts, 0)


@dataclass
class _Order:
    """One order's counts: rows of `ctx_keys` (sorted), each a run of next tokens in `next_tok`
    with inclusive cumulative counts `cum`, starting at `start[i]` and ending before `start[i+1]`."""

    ctx_keys: torch.Tensor  # (C,) int64, sorted
    start: torch.Tensor  # (C + 1,) int64
    keys: torch.Tensor  # (E,) int64, sorted: context * V + next token
    next_tok: torch.Tensor  # (E,) int64
    cum: torch.Tensor  # (E,) int64

    @classmethod
    def fit(cls, ctx: torch.Tensor, nxt: torch.Tensor, V: int) -> _Order:
        keys, cum = _counted(ctx * V + nxt)  # (E,), (E,)
        row_ctx = keys // V
        ctx_keys, first = _first_of_runs(row_ctx)
        start = torch.cat([first, torch.tensor([len(keys)], device=keys.device)])
        return cls(ctx_keys, start, keys, keys % V, cum)

    def row(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row index, whether the context occurred) for each context key: (n,), (n,) bool."""
        i = torch.searchsorted(self.ctx_keys, ctx).clamp(max=len(self.ctx_keys) - 1)
        return i, self.ctx_keys[i] == ctx

    def _base_total(self, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, e = self.start[i], self.start[i + 1]  # (n,), (n,)
        base = torch.where(s > 0, self.cum[(s - 1).clamp(min=0)], torch.zeros_like(s))
        return base, self.cum[e - 1] - base

    def draw(self, i: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """A next token from row i for each chain, u uniform in [0, 1): (n,)."""
        base, total = self._base_total(i)
        target = base + (u * total).long().clamp(max=total - 1)
        return self.next_tok[torch.searchsorted(self.cum, target, right=True)]

    def prob(self, i: torch.Tensor, seen: torch.Tensor, x: torch.Tensor, V: int) -> torch.Tensor:
        """p(x | row i), 0 where the row is unseen or never continues with x: (n,) float64."""
        base, total = self._base_total(i)
        key = self.ctx_keys[i] * V + x
        j = torch.searchsorted(self.keys, key).clamp(max=len(self.keys) - 1)
        hit = seen & (self.keys[j] == key)
        count = self.cum[j] - torch.where(j > 0, self.cum[(j - 1).clamp(min=0)], torch.zeros_like(j))
        return torch.where(hit, count.double() / total.clamp(min=1).double(), torch.zeros_like(x, dtype=torch.float64))


def _first_of_runs(sorted_vals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(distinct values, index of each one's first occurrence) of a sorted 1-D tensor."""
    new = torch.ones_like(sorted_vals, dtype=torch.bool)
    new[1:] = sorted_vals[1:] != sorted_vals[:-1]
    idx = torch.nonzero(new).squeeze(1)
    return sorted_vals[idx], idx


class TrigramSource:
    """An interpolated trigram model of a token stream that samples text and scores it exactly."""

    def __init__(
        self,
        orders: tuple[_Order, _Order, _Order],
        vocab_size: int,
        start_token: int,
        weights: tuple[float, float, float],
    ):
        self.tri, self.bi, self.uni = orders
        self.V, self.start_token, self.weights = vocab_size, start_token, weights

    @classmethod
    def fit(
        cls,
        tokens,
        vocab_size: int,
        start_token: int,
        weights: tuple[float, float, float] = WEIGHTS,
        device: str | torch.device = "cpu",
    ) -> TrigramSource:
        """Count the (a, b, x), (b, x) and (x) of `tokens`; chains start after two `start_token`s
        (the end-of-text token: a story has just ended)."""
        if len(tokens) < 3:
            raise ValueError(f"a trigram source needs at least 3 tokens, got {len(tokens)}")
        if abs(sum(weights) - 1) > 1e-9 or min(weights) < 0 or weights[2] <= 0:
            raise ValueError(f"weights={weights} must be >= 0, sum to 1, with a unigram weight > 0")
        t = torch.as_tensor(np.asarray(tokens, dtype=np.int64), device=device)  # (n,)
        V = vocab_size
        tri = _Order.fit(t[:-2] * V + t[1:-1], t[2:], V)
        bi = _Order.fit(t[:-1], t[1:], V)
        uni = _Order.fit(torch.zeros_like(t), t, V)  # one row: context 0
        return cls((tri, bi, uni), V, start_token, weights)

    def _mix(self, a: torch.Tensor, b: torch.Tensor):
        """Per chain: the rows of each order and the weights renormalized over the seen ones."""
        i3, s3 = self.tri.row(a * self.V + b)
        i2, s2 = self.bi.row(b)
        i1, s1 = self.uni.row(torch.zeros_like(b))
        w3, w2, w1 = self.weights
        w = torch.stack([s3 * w3, s2 * w2, s1 * w1], 1).double()  # (n, 3)
        return (i3, s3), (i2, s2), (i1, s1), w / w.sum(1, keepdim=True)

    def logprob(self, a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """ln p(x | a, b) under the source, each (n,) int64: (n,) float64."""
        (i3, s3), (i2, s2), (i1, s1), w = self._mix(a, b)
        p = (
            w[:, 0] * self.tri.prob(i3, s3, x, self.V)
            + w[:, 1] * self.bi.prob(i2, s2, x, self.V)
            + w[:, 2] * self.uni.prob(i1, s1, x, self.V)
        )
        return torch.log(p)

    @torch.no_grad()
    def sample(self, n_tokens: int, seed: int, chains: int = 100_000) -> tuple[np.ndarray, float]:
        """n_tokens tokens as `chains` chains of equal length laid end to end, and the mean -ln p
        of the tokens under the source (nats per token): (tokens (n_tokens,) int64, floor)."""
        device = self.tri.cum.device
        chains = max(1, min(chains, n_tokens))
        steps = -(-n_tokens // chains)  # ceil
        g = torch.Generator(device=device).manual_seed(seed)
        a = torch.full((chains,), self.start_token, dtype=torch.int64, device=device)
        b = a.clone()
        out = torch.empty((chains, steps), dtype=torch.int64, device=device)
        nll = torch.zeros((), dtype=torch.float64, device=device)
        for t in range(steps):
            (i3, _), (i2, _), (i1, _), w = self._mix(a, b)
            order = (
                torch.searchsorted(w.cumsum(1), torch.rand(chains, 1, generator=g, device=device, dtype=torch.float64))
                .squeeze(1)
                .clamp(max=2)
            )
            u = torch.rand(chains, generator=g, device=device, dtype=torch.float64)
            x = torch.where(
                order == 0, self.tri.draw(i3, u), torch.where(order == 1, self.bi.draw(i2, u), self.uni.draw(i1, u))
            )
            nll -= self.logprob(a, b, x).sum()
            out[:, t] = x
            a, b = b, x
        return out.reshape(-1)[:n_tokens].cpu().numpy(), float(nll) / (chains * steps)
