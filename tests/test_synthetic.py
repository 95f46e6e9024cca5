"""Golden facts of the story generator: seeded, sized, exact logprob, one-to-one."""

import math
import random
from collections import Counter

import pytest

from slmlab import synthetic as S


@pytest.fixture(scope="module")
def stories():
    return S.generate(60_000, seed=3)


def test_same_seed_same_stories_other_seed_other_stories(stories):
    again = S.generate(60_000, seed=3)
    assert [s.text for s in again] == [s.text for s in stories]
    assert [s.logprob for s in again] == [s.logprob for s in stories]
    assert S.generate(60_000, seed=4)[0].text != stories[0].text


def test_smaller_budget_gives_a_prefix(stories):
    fewer = S.generate(20_000, seed=3)
    assert [s.text for s in fewer] == [s.text for s in stories[:len(fewer)]]


def test_byte_budget_is_met_with_at_most_one_story_over(stories):
    sizes = [len(s.text.encode()) for s in stories]
    assert sum(sizes) >= 60_000
    assert sum(sizes) - sizes[-1] < 60_000


def test_stories_look_like_stories(stories):
    words = [s.n_words for s in stories]
    assert 100 <= min(words) and max(words) <= 500
    assert 150 <= sum(words) / len(words) <= 300
    for s in stories:
        assert s.text.isascii()
        assert "<|endoftext|>" not in s.text
        assert s.text == s.text.strip() and "\n\n" not in s.text
        assert s.logprob < 0


def test_grammar_has_many_templates():
    assert len(set(S.templates())) >= 40
    assert all(t.isascii() for t in S.templates())


def test_the_hero_comes_back(stories):
    """Long-range structure: the hero named in sentence one is named again at the end."""
    for s in stories[:20]:
        first, last = s.text.split("\n")[0], s.text.split("\n")[-1]
        hero = next(w.strip(".,") for w in first.split() if w.strip(".,") in
                    {n for names in S._NAMES.values() for n, _ in names})
        assert hero in last or hero in s.text.split("\n")[-2]


# ---------------------------------------------------------------------------
# Exact logprob and one-to-one


def test_parse_recovers_the_draws_and_the_logprob(stories):
    for s in stories:
        back = S.parse(s.text)
        assert back.choices == s.choices
        assert back.logprob == pytest.approx(s.logprob, abs=1e-9)
        assert S.choices_of(s.text) == s.choices


def test_logprob_is_the_sum_of_draw_logprobs(monkeypatch):
    """Spy on every draw: logprob is the sum of ln p of the options actually drawn, and the
    draws follow those probabilities (the first draw's frequencies over many stories)."""
    drawn = []
    real_draw = S._Engine._draw

    def spy(self, probs):
        i = real_draw(self, probs)
        drawn.append((tuple(probs), i))
        return i

    monkeypatch.setattr(S._Engine, "_draw", spy)
    s = S.generate_story(random.Random(11))
    assert len(drawn) == len(s.choices) > 30
    assert s.logprob == pytest.approx(sum(math.log(p[i]) for p, i in drawn), abs=1e-9)
    assert -s.logprob > 20  # dozens of non-trivial draws
    firsts = []
    for seed in range(3000):
        drawn.clear()
        S.generate_story(random.Random(seed))
        firsts.append(drawn[0])
    probs = firsts[0][0]
    assert len(probs) > 1 and all(p == probs for p, _ in firsts)
    counts = Counter(i for _, i in firsts)
    for i, p in enumerate(probs):
        sd = math.sqrt(3000 * p * (1 - p))
        assert abs(counts[i] - 3000 * p) < 5 * sd + 1, (i, counts[i], 3000 * p)


def test_text_equal_means_draws_equal():
    seen = {}
    for seed in range(1500):
        s = S.generate_story(random.Random(seed))
        if s.text in seen:
            assert seen[s.text] == s.choices
        seen[s.text] = s.choices
    assert len(seen) > 1400  # and the stories are varied


def test_parse_refuses_foreign_text(stories):
    text = stories[0].text
    with pytest.raises(S.ParseError):
        S.parse(text + " The end.")
    with pytest.raises(S.ParseError):
        S.parse(text.replace(" ", "  ", 1))
    with pytest.raises(S.ParseError):
        S.parse("Hello world.")


def test_parser_flags_an_ambiguous_grammar():
    """The guard behind one-to-one: two options that fit the same text are refused."""
    e = S._Engine(text="ab")
    with pytest.raises(S.AmbiguityError):
        e.unit("x", [("ab", 1.0), ("a{y=SKY}", 0.0), ("ab", 2.0)])
    e = S._Engine(text="one two")
    with pytest.raises(S.AmbiguityError):  # a prefix that could also end the unit
        e.unit("x", [("one", 1.0), ("one two", 1.0)])


def test_unit_probabilities_are_normalised():
    e = S._Engine(rng=random.Random(0))
    e.unit("x", [("a", 3.0), ("b", 1.0)])
    assert e.logprob in (pytest.approx(math.log(0.75)), pytest.approx(math.log(0.25)))


def test_entropy_helpers(stories):
    nats = S.entropy_nats_per_byte(stories)
    assert 0.01 < nats < 1.0
    assert S.entropy_bits_per_byte(stories) == pytest.approx(nats / math.log(2))


def test_fingerprint_is_stable():
    assert S.fingerprint() == S.fingerprint() and len(S.fingerprint()) == 16


def test_bad_budget_is_refused():
    with pytest.raises(ValueError, match="n_bytes"):
        S.generate(0, seed=1)
