"""The trigram source: a real probability distribution, exact log-probs, seeded samples."""

import math

import numpy as np
import pytest
import torch

from slmlab.ngram import TrigramSource

V, EOT = 12, 11
STREAM = np.array([EOT, 1, 2, 3, 1, 2, 4, EOT, 1, 2, 3, 5, 6, EOT, 7, 1, 2, 3, EOT] * 3)


def test_every_context_is_a_distribution_over_the_vocabulary():
    src = TrigramSource.fit(STREAM, V, EOT)
    for a, b in [(EOT, EOT), (1, 2), (2, 3), (9, 9), (EOT, 7)]:  # seen, seen, seen, unseen, seen
        lp = src.logprob(torch.full((V,), a), torch.full((V,), b), torch.arange(V))
        assert math.isclose(lp.exp().sum().item(), 1.0, rel_tol=1e-9), (a, b)


def test_logprob_is_the_interpolation_of_the_counts():
    src = TrigramSource.fit(STREAM, V, EOT, weights=(0.9, 0.08, 0.02))
    # after (1, 2): 3 follows 9 times of 12, 4 three times; after 2: the same; 3 is 9 of 57 tokens
    p = 0.9 * 9 / 12 + 0.08 * 9 / 12 + 0.02 * 9 / len(STREAM)
    got = src.logprob(torch.tensor([1]), torch.tensor([2]), torch.tensor([3])).item()
    assert got == pytest.approx(math.log(p), rel=1e-9)
    # an unseen pair (9, 2) hands the trigram's weight to the others
    q = (0.08 * 9 / 12 + 0.02 * 9 / len(STREAM)) / 0.10
    got = src.logprob(torch.tensor([9]), torch.tensor([2]), torch.tensor([3])).item()
    assert got == pytest.approx(math.log(q), rel=1e-9)


def test_samples_are_seeded_use_seen_tokens_and_report_their_own_loss():
    src = TrigramSource.fit(STREAM, V, EOT)
    x, floor = src.sample(5_000, seed=3, chains=50)
    y, _ = src.sample(5_000, seed=3, chains=50)
    z, _ = src.sample(5_000, seed=4, chains=50)
    assert len(x) == 5_000 and np.array_equal(x, y) and not np.array_equal(x, z)
    assert set(np.unique(x)) <= set(np.unique(STREAM))
    # the floor is the mean -ln p of the sampled tokens under their true contexts
    chains = x.reshape(50, 100)
    a = np.concatenate([np.full((50, 2), EOT), chains], 1)
    lp = src.logprob(
        torch.as_tensor(a[:, :-2].ravel()), torch.as_tensor(a[:, 1:-1].ravel()), torch.as_tensor(chains.ravel())
    )
    assert floor == pytest.approx(-lp.mean().item(), rel=1e-9)
    assert 0 < floor < math.log(V)


def test_bad_weights_and_tiny_streams_are_refused():
    with pytest.raises(ValueError, match="weights"):
        TrigramSource.fit(STREAM, V, EOT, weights=(0.5, 0.5, 0.0))
    with pytest.raises(ValueError, match="at least 3 tokens"):
        TrigramSource.fit(np.array([1, 2]), V, EOT)
