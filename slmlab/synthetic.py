"""The embedded story generator: simple children's stories with an exact log-probability.

Every story is a walk through a small grammar. Each step of the walk is one draw
from an explicit categorical distribution (a sentence template, a name, a toy, a
"go on or stop" decision), so the probability of a story is the product of the
probabilities of its draws, and `Story.logprob` is the sum of their natural logs.

Why that number matters: the text is a one-to-one function of the draws (`parse`
recovers them from the text alone, and refuses any text that two different draw
sequences could have written), so ln p(text) = Story.logprob exactly, and
-sum(logprob) / n_tokens over a corpus is the loss no model can beat: the
entropy floor the course draws under every loss curve.

How one-to-one is kept: at every choice point the parser counts the options whose
full rendering is a prefix of the rest of the text, and raises `AmbiguityError`
when more than one fits. If two different draw sequences wrote the same text, at
their first difference both options would fit, so a text that parses has exactly
one draw sequence. The tests parse generated stories back to their draws and check
that the guard refuses a grammar with two options that write the same text.

Long-range structure (so a model with context beats a bigram model): the hero's
name, the friend, the toy, the place and the kind of problem are drawn once and
come back sentences later; the attempts, resolution and moral depend on the
problem drawn in the second paragraph.

This module knows nothing of tokens, files or splits: corpora.py turns stories
into a corpus, data.py tokenizes it and turns logprobs into a floor per token.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Story",
    "generate",
    "generate_story",
    "parse",
    "AmbiguityError",
    "ParseError",
    "entropy_nats_per_byte",
    "entropy_bits_per_byte",
    "VERSION",
    "templates",
]

# Bump by hand when the stories of a seed change: the grammar, its probabilities or the story
# program (tests/test_golden.py pins the first story of a seed and fails until you do).
# corpora.identity holds it, so token folders of synthetic text follow it.
VERSION = 1


class ParseError(ValueError):
    """The text is not a story this generator can write."""


class AmbiguityError(ParseError):
    """Two different draw sequences fit the same text: the grammar is not one-to-one."""


@dataclass(frozen=True)
class Story:
    """One generated story: its text, ln p(text), and the draws that wrote it."""

    text: str
    logprob: float  # natural log of the exact probability of `text` under the generator
    choices: tuple[tuple[str, int], ...] = ()  # (choice point label, option index) per draw

    @property
    def n_words(self) -> int:
        return len(self.text.split())


# ---------------------------------------------------------------------------
# Vocabulary: every slot is a list of (text, weight, extra bindings).
# Weights are normalised per draw, so each slot is an explicit categorical.

_HE = {"f": ("she", "her", "her"), "m": ("he", "him", "his")}

# kind, weight, gender
_KINDS = [
    ("girl", 30, "f"),
    ("boy", 26, "m"),
    ("puppy", 8, "m"),
    ("kitten", 8, "f"),
    ("bunny", 7, "f"),
    ("mouse", 6, "m"),
    ("bear", 5, "m"),
    ("duck", 5, "f"),
    ("frog", 5, "m"),
]
_NAMES = {
    "f": [
        ("Lily", 16),
        ("Mia", 11),
        ("Sue", 8),
        ("Anna", 7),
        ("Emma", 7),
        ("Zoe", 6),
        ("Lucy", 6),
        ("Ella", 5),
        ("Ruby", 5),
        ("Rose", 4),
        ("Amy", 4),
        ("Kim", 4),
        ("Molly", 3),
        ("Daisy", 3),
        ("Nina", 3),
        ("Sara", 3),
        ("Jill", 2),
        ("Kate", 2),
        ("Pam", 1),
        ("Beth", 1),
    ],
    "m": [
        ("Tom", 15),
        ("Max", 11),
        ("Ben", 9),
        ("Sam", 8),
        ("Leo", 7),
        ("Jack", 6),
        ("Tim", 6),
        ("Finn", 5),
        ("Jake", 4),
        ("Bob", 4),
        ("Dan", 3),
        ("Joe", 3),
        ("Ned", 3),
        ("Ray", 3),
        ("Zack", 2),
        ("Rex", 2),
        ("Gus", 2),
        ("Ted", 2),
        ("Will", 1),
        ("Carl", 1),
    ],
}
_GENDER_WEIGHT = {g: sum(w for _, w, kg in _KINDS if kg == g) for g in "fm"}


def _pronouns(prefix: str, g: str) -> dict:
    he, him, his = _HE[g]
    return {prefix + "g": g, prefix + "he": he, prefix + "him": him, prefix + "his": his}


def _kind_slot(prefix: str) -> Callable[[dict], list]:
    """Kinds of creature; filtered to the gender of the name when the name came first."""

    def options(st: dict) -> list:
        g = st.get(prefix + "g")
        return [(k, w, _pronouns(prefix, kg)) for k, w, kg in _KINDS if g in (None, kg)]

    return options


def _name_slot(prefix: str, exclude: str | None) -> Callable[[dict], list]:
    """Names; of the kind's gender when the kind came first, never `exclude`'s name."""

    def options(st: dict) -> list:
        g, taken = st.get(prefix + "g"), st.get(exclude) if exclude else None
        out = []
        for ng in ("f", "m"):
            if g not in (None, ng):
                continue
            total = sum(w for _, w in _NAMES[ng])
            scale = 1.0 if g else _GENDER_WEIGHT[ng] / total
            out += [(n, w * scale, _pronouns(prefix, ng)) for n, w in _NAMES[ng] if n != taken]
        return out

    return options


def _plain(*pairs) -> list:
    return [(t, w, {}) for t, w in pairs]


_SLOTS: dict[str, list | Callable[[dict], list]] = {
    "HKIND": _kind_slot(""),
    "HNAME": _name_slot("", None),
    "FKIND": _kind_slot("f"),
    "FNAME": _name_slot("f", "hero"),
    "ADULT": [
        ("mom", 30, _pronouns("a", "f")),
        ("dad", 25, _pronouns("a", "m")),
        ("grandma", 15, _pronouns("a", "f")),
        ("grandpa", 10, _pronouns("a", "m")),
    ],
    "PLACE": _plain(
        ("park", 25),
        ("garden", 18),
        ("beach", 12),
        ("forest", 10),
        ("farm", 9),
        ("lake", 8),
        ("playground", 8),
        ("big field", 5),
        ("zoo", 5),
    ),
    "TOY": _plain(
        ("red ball", 12),
        ("blue kite", 10),
        ("teddy bear", 10),
        ("toy car", 9),
        ("doll", 8),
        ("toy train", 7),
        ("yellow boat", 6),
        ("little drum", 5),
        ("green hat", 5),
        ("paper plane", 5),
        ("puppet", 4),
        ("shiny whistle", 4),
        ("jump rope", 4),
    ),
    "ACT": _plain(
        ("run and jump", 20),
        ("sing songs", 15),
        ("draw pictures", 14),
        ("play in the sun", 12),
        ("look at the clouds", 8),
        ("dance", 8),
        ("read books", 7),
        ("build with blocks", 6),
    ),
    "COLOR": _plain(
        ("red", 20), ("blue", 18), ("green", 12), ("yellow", 12), ("pink", 12), ("purple", 8), ("orange", 6)
    ),
    "TRAIT": _plain(("happy", 25), ("curious", 15), ("brave", 12), ("funny", 12), ("polite", 8), ("gentle", 8)),
    "FOOD": _plain(
        ("an apple", 15),
        ("a big bowl of oats", 10),
        ("warm toast", 10),
        ("a banana", 8),
        ("some berries", 8),
        ("pancakes", 6),
    ),
    "SIGHT": _plain(
        ("a pretty butterfly", 15),
        ("a big red flower", 10),
        ("some ducks in a pond", 8),
        ("a tall green tree", 6),
        ("a little bird singing", 8),
        ("a fluffy white cloud", 5),
    ),
    "SKY": _plain(("blue", 20), ("bright blue", 8), ("clear", 6)),
    "FIND": _plain(("a smooth stone", 10), ("a pretty leaf", 10), ("a tiny shell", 6), ("a yellow flower", 8)),
    "GAME": _plain(("tag", 15), ("hide and seek", 15), ("catch", 8)),
    "TREE": _plain(("tree", 20), ("oak tree", 8), ("apple tree", 6), ("pine tree", 5)),
    "NOISE": _plain(("boom", 12), ("bang", 8), ("roar", 6), ("crash", 6), ("growl", 5)),
    "CAUSE": _plain(("the wind", 15), ("a little cat", 10), ("the old door", 8), ("the rain on the roof", 6)),
    "SPOT": _plain(
        ("under a big rock", 10),
        ("behind a tree", 12),
        ("in the tall grass", 9),
        ("under the slide", 6),
        ("near the water", 6),
        ("inside a hollow log", 4),
        ("by the old fence", 5),
        ("under a bench", 6),
    ),
    "JUNK": _plain(("some old leaves", 10), ("a little bug", 8), ("a lost sock", 5), ("a shiny stone", 5)),
    "STICK": _plain(("stick", 10), ("small stone", 6), ("pine cone", 5)),
    "FIX": _plain(("tape", 12), ("glue", 10), ("string", 5)),
    "NUM": _plain(("ten", 12), ("five", 6), ("twenty", 4), ("three", 4)),
    "GIFT": _plain(("a cookie", 10), ("a shiny stone", 6), ("a flower", 6), ("a sticker", 5)),
    "ANIMAL": _plain(("dog", 10), ("bird", 6), ("squirrel", 5), ("cat", 5), ("goat", 2)),
    "HOW": _plain(("quickly", 10), ("slowly", 6), ("carefully", 6), ("then", 8)),
    "MOOD": _plain(("sad", 30), ("upset", 20), ("worried", 20), ("unhappy", 15)),
    "RLINE": _plain(
        ("Do not give up!", 12), ("Let us try again.", 10), ("We can do it!", 8), ("Maybe there is another way.", 6)
    ),
    "HLINE": _plain(
        ("What can I do now?", 10), ("This is so hard.", 8), ("I will not give up.", 8), ("Please, I need help.", 5)
    ),
}

_LINES = {  # what the one with the problem says; {toy} etc. are filled from the story
    "lost": _plain(
        ("Where is my {toy}?", 12),
        ("I lost my {toy}!", 8),
        ("I want my {toy} back.", 6),
        ("Oh no, my {toy} is gone!", 6),
    ),
    "stuck": _plain(("My {toy} is stuck!", 12), ("How will I get it down?", 8), ("I can not reach my {toy}!", 6)),
    "broken": _plain(("My {toy} is broken!", 12), ("Can it be fixed?", 8), ("Now I can not play with it.", 6)),
    "scared": _plain(("What was that?", 12), ("I want to go home!", 8), ("I am scared of the {noise}.", 6)),
    "share": _plain(("I just want to play too.", 10), ("Why will you not share?", 8), ("That is not fair!", 6)),
}
_SLOTS["LINE"] = lambda st: _LINES[st["ptype"]]


# ---------------------------------------------------------------------------
# Templates. {var} repeats a value already drawn; {var=SLOT} draws a new one from
# SLOT and names it var; {var=?SLOT} draws only if var is not drawn yet; a
# trailing ^ capitalises. Each list holds (template, weight).

_OPENINGS = [
    ("Once upon a time, there was a little {kind=HKIND} named {hero=HNAME}.", 30),
    ("Once upon a time, in a small town, there lived a {kind=HKIND} named {hero=HNAME}.", 12),
    ("There once was a happy little {kind=HKIND} called {hero=HNAME}.", 10),
    ("One sunny morning, a little {kind=HKIND} named {hero=HNAME} woke up early.", 10),
    ("{hero=HNAME} was a little {kind=HKIND} who lived in a small house.", 8),
    ("In a little house by the woods, there lived a {kind=HKIND} named {hero=HNAME}.", 6),
    ("Long ago, there was a small {kind=HKIND} whose name was {hero=HNAME}.", 5),
]
_FRIENDS = [
    ("{he^} had a best friend named {friend=FNAME}, a {fkind=FKIND}.", 12),
    ("{hero}'s best friend was a {fkind=FKIND} called {friend=FNAME}.", 8),
    ("{he^} liked to play with {his} friend {friend=FNAME}, who was a kind little {fkind=FKIND}.", 6),
    ("Every day, {hero} played with a {fkind=FKIND} named {friend=FNAME}.", 5),
]
_DESCRIPTIONS = [
    ("{he^} loved to {act=ACT}.", 14),
    ("{his^} favorite color was {color=?COLOR}.", 10),
    ("{he^} lived with {his} {adult=?ADULT} in a little house near the {place=?PLACE}.", 9),
    ("{hero} was always kind and {trait=TRAIT}.", 8),
    ("Every morning, {hero} ate {food=FOOD} for breakfast.", 6),
    ("{he^} had a {toy=?TOY} that {he} loved very much.", 12),
    ("{hero} and {friend} liked to play at the {place=?PLACE} together.", 8),
    ("{he^} always wore a little {color=?COLOR} hat.", 4),
]
_DAYS = [
    ("One day, {hero} went to the {place=?PLACE} with {his} {toy=?TOY}.", 20),
    ("One sunny day, {hero} and {friend} went to play at the {place=?PLACE}. {hero} brought {his} {toy=?TOY}.", 10),
    ("One morning, {hero} took {his} {toy=?TOY} to the {place=?PLACE}.", 8),
    ("The next day, {hero} and {his} {toy=?TOY} went to the {place=?PLACE}.", 5),
    ("On a windy afternoon, {hero} walked to the {place=?PLACE} with {his} {toy=?TOY}.", 4),
]
_PLAYS = [
    ("{hero} and {friend} ran around the {place} and laughed.", 10),
    ("They saw {sight=SIGHT}.", 9),
    ("The sun was warm, and the sky was {sky=SKY}.", 6),
    ("{hero} found {find=FIND} and showed it to {friend}.", 6),
    ("They played a game of {game=GAME}.", 7),
    ("{friend} told a funny joke, and {hero} laughed and laughed.", 4),
]
_PTYPES = [("lost", 28), ("stuck", 22), ("broken", 18), ("scared", 14), ("share", 18)]
_PROBLEMS = {
    "lost": [
        ("{hero} played with {his} {toy} all morning. But when {he} looked around, the {toy} was gone!", 10),
        (
            "After a while, {hero} put {his} {toy} down to pick a flower. When {he} came back, "
            "the {toy} was not there.",
            7,
        ),
        ("{hero} threw {his} {toy} high in the air. It flew far away, and {he} could not see it anymore.", 5),
    ],
    "stuck": [
        ("{hero} threw {his} {toy} up high, and it got stuck in a tall {tree=TREE}.", 10),
        ("A big gust of wind took {his} {toy} and put it on top of a tall {tree=TREE}.", 6),
        ("{hero}'s {toy} bounced off a rock and landed high up in a {tree=TREE}.", 4),
    ],
    "broken": [
        ("{hero} played with {his} {toy} too hard, and it broke into two pieces.", 10),
        ("{hero} dropped {his} {toy} on the hard ground. Oh no! It was broken.", 8),
        ("{friend} wanted to see the {toy}, but it fell from {fhis} hands and broke.", 5),
    ],
    "scared": [
        ("Then {hero} heard a loud {noise=NOISE}. {he^} was very scared.", 10),
        ("Suddenly, there was a loud {noise=NOISE} behind the trees, and {hero} felt scared.", 7),
        ("When it got late, {hero} heard a strange {noise=NOISE} and hid behind {his} {toy}.", 4),
    ],
    "share": [
        ('{friend} saw the {toy} and asked, "Can I play with it too?" But {hero} did not want to share.', 10),
        ('{friend} wanted to play with {hero}\'s {toy}, but {hero} held it tight and said, "No, it is mine!"', 7),
        ("{friend} asked to hold the {toy}, but {hero} said no and turned away.", 5),
    ],
}
_FEELS = [  # {who} is the one with the problem: the hero, or the friend in "share"
    ("{whe^} felt very {mood=MOOD}.", 12),
    ("{who} sat down and started to cry.", 8),
    ("Tears came to {whis} eyes.", 6),
    ("{whe^} did not know what to do.", 8),
]
_DIALOGS = [
    ('{who} said, "{line=LINE}"', 10),
    ('{who} said sadly, "{line=LINE}"', 6),
    ('{who} cried, "{line=LINE}"', 5),
]
_ATTEMPTS = {
    "lost": [
        ("{hero} {how=HOW} looked {spot=SPOT}. But the {toy} was not there.", 12),
        ("{hero} and {friend} looked {spot=SPOT} together. They found {junk=JUNK}, but no {toy}.", 8),
        (
            '{hero} asked {his} {adult=?ADULT}, "Have you seen my {toy}?" {his^} {adult} '
            'shook {ahis} head and said, "No, I am sorry."',
            6,
        ),
        ('{hero} called out, "{toy^}, where are you?" But nobody answered.', 5),
    ],
    "stuck": [
        ("{hero} jumped as high as {he} could, but {he} could not reach the {toy}.", 12),
        ("{hero} threw a {stick=STICK} at the {tree}, but the {toy} did not move.", 8),
        ("{friend} tried to climb the {tree}, but the branches were too high.", 7),
        ("{hero} shook the {tree} with all {his} might. The {toy} stayed up there.", 5),
    ],
    "broken": [
        ("{hero} {how=HOW} tried to fix the {toy} with some {fix=FIX}, but it did not hold.", 12),
        ("{hero} and {friend} tried to put the pieces back together, but they did not fit.", 8),
        ("{hero} showed the broken {toy} to {his} {adult=?ADULT}, but {ahe} was too busy to help right then.", 6),
    ],
    "scared": [
        ("{hero} hid under {his} blanket, but {he} could still hear the {noise}.", 10),
        ("{hero} tried to sing a happy song, but {his} voice was shaking.", 7),
        ('{hero} held {friend}\'s hand tight. "I do not like that {noise}," {he} said.', 6),
        ("{hero} closed {his} eyes and counted to {num=NUM}, but {he} was still afraid.", 5),
    ],
    "share": [
        ("{friend} asked again, but {hero} put the {toy} behind {his} back.", 10),
        ("{friend} offered {hero} {gift=GIFT} for the {toy}, but {hero} still said no.", 7),
        ("{hero} played with the {toy} alone, but it was not much fun without {friend}.", 7),
        ("{friend} went to sit all by {fhim}self, and {hero} felt a little bad.", 5),
    ],
}
_REACTS = [
    ('{friend} said, "{rline=RLINE}"', 10),
    ('{hero} sighed. "{hline=HLINE}"', 8),
    ("{friend} gave {hero} a big hug.", 5),
    ("{hero} felt {mood=MOOD} and sat down for a while.", 4),
]
_RESOLVES = {
    "lost": [
        ('Then {friend} shouted, "Look!" The {toy} was {spot=SPOT}, right where they did not look before.', 10),
        ("At last, {hero} saw something {spot=SPOT}. It was {his} {toy}!", 8),
        ("A friendly {animal=ANIMAL} came by with the {toy} in its mouth. It had found it {spot=SPOT}.", 5),
    ],
    "stuck": [
        ("Then {his} {adult=?ADULT} came with a long ladder and got the {toy} down.", 10),
        ("Just then, the wind blew hard, and the {toy} fell right into {hero}'s arms.", 6),
        ("{friend} had an idea. {fhe^} found a long stick, and together they poked the {toy} until it fell down.", 7),
    ],
    "broken": [
        ("{his^} {adult=?ADULT} sat down with {him} and fixed the {toy} with a little glue and a lot of care.", 10),
        ("{friend} knew just what to do. {fhe^} helped {hero} fix the {toy}, and soon it was as good as new.", 8),
        ("{hero} did not give up. {he^} worked slowly and carefully, and at last the {toy} was fixed.", 5),
    ],
    "scared": [
        ("Then {his} {adult=?ADULT} came and turned on the light. The {noise} was only {cause=CAUSE}!", 10),
        ("{friend} took a look and laughed. The {noise} came from {cause=CAUSE}!", 7),
        ("{hero} took a deep breath and looked. It was only {cause=CAUSE}. There was nothing to be scared of.", 6),
    ],
    "share": [
        ('At last, {hero} gave the {toy} to {friend} and said, "Here, you can play with it too."', 10),
        ("{hero} saw how sad {friend} was. {he^} walked over and shared the {toy}.", 8),
        ('Then {hero} had an idea. "Let us play with the {toy} together!" {he} said.', 6),
    ],
}
_JOYS = [
    ("{hero} was so happy.", 12),
    ("{hero} smiled a big smile.", 8),
    ("{hero} jumped up and down with joy.", 6),
    ("Everyone laughed and clapped.", 4),
    ("{hero} felt warm and happy inside.", 4),
]
_THANKS = [
    ('"Thank you, {friend}!" said {hero}.', 10),
    ('{hero} hugged {friend} and said, "You are the best friend ever!"', 6),
    ('"Thank you for helping me," {hero} said with a smile.', 5),
]
_CLOSES = [
    ("They played at the {place} until the sun went down.", 10),
    ("Then they went home, tired and happy.", 8),
    ("They spent the rest of the day at the {place}, laughing and playing.", 6),
    ("After that, {hero} and {friend} had the best day ever.", 5),
]
_EVENINGS = [
    ("That night, {hero} told {his} {adult=?ADULT} all about {his} day at the {place}.", 10),
    ("When {hero} got home, {he} drew a picture of {friend} and the {toy}.", 7),
    ("Before bed, {hero} thought about {friend} and smiled.", 6),
    ("At dinner, {hero} ate {food=?FOOD} and talked about the {place}.", 4),
]
_MORALS = {
    "lost": [
        (
            "From that day on, {hero} always kept {his} {toy} close. {he^} learned to take "
            "good care of the things {he} loved.",
            10,
        ),
        ("{hero} learned that good friends help you find what you have lost.", 7),
        ("Now {hero} knew that if you look carefully and do not give up, you can find what you lost.", 5),
    ],
    "stuck": [
        ("{hero} learned that when something is hard, it helps to ask for help.", 10),
        ("From then on, {hero} never threw {his} {toy} too high again.", 7),
        ("{hero} learned that friends can do hard things together.", 5),
    ],
    "broken": [
        ("{hero} learned to be gentle with {his} toys.", 10),
        ("From that day, {hero} played with the {toy} very carefully.", 7),
        ("{hero} learned that broken things can often be fixed with patience.", 5),
    ],
    "scared": [
        ("{hero} learned that many scary things are not scary at all when you look closely.", 10),
        ("From then on, {hero} was not afraid of the {noise} anymore.", 7),
        ("{hero} learned that being brave means trying even when you are afraid.", 5),
    ],
    "share": [
        ("{hero} learned that sharing makes everyone happy.", 10),
        ("From that day on, {hero} and {friend} always shared their toys.", 7),
        ("{hero} learned that playing together is more fun than playing alone.", 5),
    ],
}

# Chance to stop adding sentences of a kind, by how many there are already.
_DESC_MORE = (0.85, 0.7, 0.55, 0.4, 0.0)  # another description after 0..4 of them
_PLAY_STOP = (0.2, 0.35, 0.5, 0.7, 1.0)  # go to the problem after 0..4 play sentences
_ATTEMPT_STOP = (0.0, 0.1, 0.25, 0.4, 0.55, 1.0)  # resolve after 0..5 attempts
_DIALOG_P, _REACT_P, _THANK_P, _EVENING_P = 0.6, 0.6, 0.5, 0.45


def templates() -> list[str]:
    """Every sentence template of the grammar (for counting and for the tests)."""
    groups = [
        _OPENINGS,
        _FRIENDS,
        _DESCRIPTIONS,
        _DAYS,
        _PLAYS,
        _FEELS,
        _DIALOGS,
        _REACTS,
        _JOYS,
        _THANKS,
        _CLOSES,
        _EVENINGS,
    ]
    for table in (_PROBLEMS, _ATTEMPTS, _RESOLVES, _MORALS):
        groups += list(table.values())
    return [t for g in groups for t, _ in g]


# ---------------------------------------------------------------------------
# Template compiler: "a {x=SLOT} b {y^}" -> parts

_FIELD = re.compile(r"\{([^{}]*)\}")


@functools.cache
def _compile(tpl: str) -> tuple:
    """Parts: ("lit", s) | ("ref", var, cap) | ("slot", var, slot_name, cap, if_unset)."""
    parts, pos = [], 0
    for m in _FIELD.finditer(tpl):
        if m.start() > pos:
            parts.append(("lit", tpl[pos : m.start()]))
        body = m.group(1)
        cap = body.endswith("^")
        body = body.rstrip("^")
        if "=" in body:
            var, slot = body.split("=")
            if slot.lstrip("?") not in _SLOTS:
                raise KeyError(f"template {tpl!r} names unknown slot {slot!r}")
            parts.append(("slot", var, slot.lstrip("?"), cap, slot.startswith("?")))
        else:
            parts.append(("ref", body, cap))
        pos = m.end()
    if pos < len(tpl):
        parts.append(("lit", tpl[pos:]))
    return tuple(parts)


def _cap(s: str, cap: bool) -> str:
    return s[:1].upper() + s[1:] if cap else s


def _fill(tpl: str, st: dict) -> str:
    """Render a template made of literals and references only."""
    if "{" not in tpl:
        return tpl
    return "".join(p[1] if p[0] == "lit" else _cap(st[p[1]], p[2]) for p in _compile(tpl))


def _slot_options(name: str, st: dict) -> list:
    opts = _SLOTS[name]
    return opts(st) if callable(opts) else opts


def _probs(weights: Sequence[float]) -> list[float]:
    """Weights -> probabilities summing to 1 (one draw's categorical)."""
    total = float(sum(weights))
    return [w / total for w in weights]


# ---------------------------------------------------------------------------
# The engine: one story program, run either to write (rng) or to read (text)


class _Engine:
    """Runs the story program. With rng it draws and writes; with text it reads.

    Both modes record the same (label, index) draws and the same sum of ln p,
    because they build the same option lists from the same state.
    """

    def __init__(self, rng: random.Random | None = None, text: str | None = None):
        self.rng, self.text = rng, text
        self.out: list[str] = []
        self.pos = 0
        self.state: dict[str, str] = {}
        self.choices: list[tuple[str, int]] = []
        self.logprob = 0.0

    def _record(self, label: str, index: int, p: float) -> None:
        self.choices.append((label, index))
        self.logprob += math.log(p)

    def _draw(self, probs: list[float]) -> int:
        u, acc = self.rng.random(), 0.0
        for i, p in enumerate(probs):
            acc += p
            if u < acc:
                return i
        return len(probs) - 1

    def lit(self, s: str) -> None:
        """Fixed text: written, or checked against the text being read."""
        if self.text is None:
            self.out.append(s)
        elif self.text.startswith(s, self.pos):
            self.pos += len(s)
        else:
            raise ParseError(f"expected {s!r} at char {self.pos}: {self.text[self.pos : self.pos + 40]!r}")

    def unit(self, label: str, options: list[tuple]) -> int:
        """Draw one of (template, weight[, sets]) and write or read it; return its index.

        Options of weight 0 are dropped first; the recorded index counts only the rest.
        """
        kept = [i for i, o in enumerate(options) if o[1] > 0]
        options = [options[i] for i in kept]
        probs = _probs([o[1] for o in options])
        if self.text is not None:
            return kept[self._read_unit(label, options, probs)]
        i = self._draw(probs)
        self._record(label, i, probs[i])
        self._apply(options[i], self.state)
        self._render(_compile(options[i][0]), label)
        return kept[i]

    @staticmethod
    def _apply(option: tuple, st: dict) -> None:
        for key, value in (option[2] if len(option) > 2 else {}).items():
            st[key] = _fill(value, st)

    # --- writing
    def _render(self, parts: tuple, label: str) -> None:
        st = self.state
        for p in parts:
            if p[0] == "lit":
                self.out.append(p[1])
            elif p[0] == "ref" or (p[4] and p[1] in st):
                self.out.append(_cap(st[p[1]], p[2] if p[0] == "ref" else p[3]))
            else:
                _, var, slot, cap, _ = p
                opts = _slot_options(slot, st)
                probs = _probs([o[1] for o in opts])
                j = self._draw(probs)
                self._record(f"{label}.{var}", j, probs[j])
                st[var] = _fill(opts[j][0], st)
                st.update(opts[j][2])
                self.out.append(_cap(st[var], cap))

    # --- reading
    def _read_unit(self, label: str, options: list[tuple], probs: list[float]) -> int:
        found = []
        for i, option in enumerate(options):
            st = dict(self.state)
            self._apply(option, st)
            for end, st2, draws in self._matches(_compile(option[0]), 0, self.pos, st, (), label):
                found.append((i, end, st2, draws))
                if len(found) > 1:
                    raise AmbiguityError(
                        f"{label}: options {found[0][0]} and {i} both fit the "
                        f"text at char {self.pos}: {self.text[self.pos : self.pos + 60]!r}"
                    )
        if not found:
            raise ParseError(
                f"{label}: no option fits the text at char {self.pos}: {self.text[self.pos : self.pos + 60]!r}"
            )
        i, end, st2, draws = found[0]
        self._record(label, i, probs[i])
        for lab, j, p in draws:
            self._record(lab, j, p)
        self.state, self.pos = st2, end
        return i

    def _matches(self, parts, k, pos, st, draws, label):
        """Yield (end, state, draws) for every way parts[k:] is a prefix of text[pos:]."""
        if k == len(parts):
            yield pos, st, draws
            return
        p, text = parts[k], self.text
        if p[0] != "slot" or (p[4] and p[1] in st):
            s = p[1] if p[0] == "lit" else _cap(st[p[1]], p[2] if p[0] == "ref" else p[3])
            if text.startswith(s, pos):
                yield from self._matches(parts, k + 1, pos + len(s), st, draws, label)
            return
        _, var, slot, cap, _ = p
        opts = _slot_options(slot, st)
        probs = _probs([o[1] for o in opts])
        for j, (tpl, _, extra) in enumerate(opts):
            value = _fill(tpl, st)
            s = _cap(value, cap)
            if text.startswith(s, pos):
                st2 = {**st, var: value, **extra}
                yield from self._matches(
                    parts, k + 1, pos + len(s), st2, draws + ((f"{label}.{var}", j, probs[j]),), label
                )


# ---------------------------------------------------------------------------
# The story program


def _story(e: _Engine) -> None:
    """One story, paragraph by paragraph. Every branch is an explicit draw."""
    e.unit("opening", _OPENINGS)
    e.lit(" ")
    e.unit("friend", _FRIENDS)
    _descriptions(e)
    e.unit("day", _DAYS)
    _play_then_problem(e)
    e.lit(" ")
    e.unit("feel", _FEELS)
    if e.unit("dialog?", [(" ", _DIALOG_P), ("\n", 1 - _DIALOG_P)]) == 0:
        e.unit("dialog", _DIALOGS)
        e.lit("\n")
    _attempts_then_resolution(e)
    e.lit(" ")
    e.unit("joy", _JOYS)
    e.lit(" ")
    thanks = [(t, w * _THANK_P) for t, w in _normalized(_THANKS)]
    closes = [(t, w * (1 - _THANK_P)) for t, w in _normalized(_CLOSES)]
    if e.unit("thank_or_close", thanks + closes) < len(thanks):
        e.lit(" ")
        e.unit("close", _CLOSES)
    e.lit("\n")
    morals = _MORALS[e.state["ptype"]]
    evenings = [(t, w * _EVENING_P) for t, w in _normalized(_EVENINGS)]
    if e.unit("evening_or_moral", evenings + [(t, w * (1 - _EVENING_P)) for t, w in _normalized(morals)]) < len(
        evenings
    ):
        e.lit("\n")
        e.unit("moral", morals)


def _normalized(options: list[tuple]) -> list[tuple]:
    """(template, weight, ...) options with their weights rescaled to sum to 1."""
    total = float(sum(o[1] for o in options))
    return [(o[0], o[1] / total, *o[2:]) for o in options]


def _descriptions(e: _Engine) -> None:
    """0-4 description sentences, none twice; each 'one more?' is a drawn separator."""
    used: set[str] = set()
    for p_more in _DESC_MORE:
        if e.unit("desc?", [(" ", p_more), ("\n", 1 - p_more)]) == 1:
            return
        options = [o for o in _DESCRIPTIONS if o[0] not in used]
        used.add(options[e.unit("desc", options)][0])


def _play_then_problem(e: _Engine) -> None:
    """0-4 play sentences, then the problem; 'stop playing' and the problem are one draw."""
    used: set[str] = set()
    problems = [
        (t, pw * w, _problem_sets(kind)) for kind, pw in _normalized(_PTYPES) for t, w in _normalized(_PROBLEMS[kind])
    ]
    for p_stop in _PLAY_STOP:
        e.lit(" ")
        plays = [(t, w * (1 - p_stop)) for t, w in _normalized(_PLAYS) if t not in used]
        merged = plays + [(t, w * p_stop, s) for t, w, s in problems]
        i = e.unit("play_or_problem", merged)
        if i >= len(plays):
            return
        used.add(plays[i][0])


def _problem_sets(kind: str) -> dict:
    if kind == "share":  # the friend is the one who is sad
        return {"ptype": kind, "who": "{friend}", "whe": "{fhe}", "whis": "{fhis}"}
    return {"ptype": kind, "who": "{hero}", "whe": "{he}", "whis": "{his}"}


def _attempts_then_resolution(e: _Engine) -> None:
    """1-5 attempt paragraphs, then the resolution; 'stop trying' is part of one draw.

    An attempt never repeats the one just before it: its options leave that one out.
    """
    kind, last = e.state["ptype"], None
    for p_stop in _ATTEMPT_STOP:
        fresh = _normalized([o for o in _ATTEMPTS[kind] if o[0] != last])  # never twice in a row
        attempts = [(t, w * (1 - p_stop)) for t, w in fresh]
        resolves = [(t, w * p_stop) for t, w in _normalized(_RESOLVES[kind])]
        i = e.unit("attempt_or_resolve", attempts + resolves)
        if i >= len(attempts):
            return
        last = attempts[i][0]
        if e.unit("react?", [(" ", _REACT_P), ("\n", 1 - _REACT_P)]) == 0:
            e.unit("react", _REACTS)
            e.lit("\n")


# ---------------------------------------------------------------------------
# Public API


def generate_story(rng: random.Random) -> Story:
    """One story drawn with `rng`."""
    e = _Engine(rng=rng)
    _story(e)
    return Story("".join(e.out), e.logprob, tuple(e.choices))


def generate(n_bytes: int, seed: int) -> list[Story]:
    """Stories until their texts hold at least n_bytes bytes (the last one may overshoot).

    Deterministic in (n_bytes, seed); a smaller n_bytes gives a prefix of the list.
    """
    if not isinstance(n_bytes, int) or n_bytes <= 0:
        raise ValueError(f"n_bytes={n_bytes!r} must be a positive whole number, e.g. 2_000_000")
    rng = random.Random(seed)
    stories, total = [], 0
    while total < n_bytes:
        story = generate_story(rng)
        stories.append(story)
        total += len(story.text)  # ASCII: one byte per character
    return stories


def parse(text: str) -> Story:
    """Recover the draws that wrote `text`, and its exact logprob.

    Raises ParseError when no draw sequence writes `text`, AmbiguityError when two do.
    """
    e = _Engine(text=text)
    _story(e)
    if e.pos != len(text):
        raise ParseError(f"the story ends at char {e.pos} but the text goes on: {text[e.pos : e.pos + 40]!r}")
    return Story(text, e.logprob, tuple(e.choices))


def entropy_nats_per_byte(stories: Sequence[Story]) -> float:
    """-sum(ln p) / bytes of text: the entropy rate of these stories in nats per byte."""
    n_bytes = sum(len(s.text.encode()) for s in stories)
    return -sum(s.logprob for s in stories) / n_bytes


def entropy_bits_per_byte(stories: Sequence[Story]) -> float:
    """Same as entropy_nats_per_byte, in bits."""
    return entropy_nats_per_byte(stories) / math.log(2)
