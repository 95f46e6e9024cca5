"""Golden outputs: what a fixed input must produce, so that a change shows up as a failing test.

The caches are keyed by declared versions, not by hashing source code
(data.TOKEN_FORMAT_VERSION, synthetic.VERSION, experiments.KEY_VERSION). That is safe only
while a change of output comes with a bump, so these tests pin the outputs: the first story
of a seed, the token ids of a fixed text for char, bpe-64 and gpt2, the cache keys
themselves, and the losses and greedy text of a seeded fp32 smoke run.

When one fails on purpose (you changed the grammar, a tokenizer, the key, the training),
bump the version its message names, update the golden, and say why in the commit.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA, USER_DATA_DIR

from slmlab import corpora, synthetic
from slmlab import experiments as ex
from slmlab.callbacks import Callback
from slmlab.data import TOKEN_FORMAT_VERSION, data_key, prepare
from slmlab.presets import preset
from slmlab.tokenizers import GPT2_FILES, GPT2_URL, get_tokenizer
from slmlab.train import train

BUMP = "the output changed: bump TOKEN_FORMAT_VERSION (or synthetic.VERSION) and update this golden"

TEXT = (
    "Once upon a time there was a little fox named Pip. Pip liked the red ball, "
    "and the red ball liked Pip. One day the ball rolled into the tall grass. "
    '"Where is my ball?" said Pip. The owl said, "Look by the old tree!" '
    "Pip looked by the old tree and found the ball. Pip was happy, and the owl was happy too.\n"
)
SENTENCE = "Pip found the red ball by the tree."


def test_versions_are_the_ones_these_goldens_were_made_with():
    assert (TOKEN_FORMAT_VERSION, synthetic.VERSION, ex.KEY_VERSION) == (2, 1, 1), (
        "a version was bumped: check every golden below against the new output and update this line"
    )


# ---------------------------------------------------------------------------
# Stories and tokens


def test_first_story_of_seed_1234():
    story = synthetic.generate(1, seed=1234)[0]
    assert story.text[:80] == ("Long ago, there was a small boy whose name was Tom. Every day, Tom played with a"), BUMP
    assert (len(story.text), hashlib.sha256(story.text.encode()).hexdigest()) == (
        1351,
        "c2a5692cc368a1b8f3de9a62621edfec9bcc84353b552122ca80293c9ddf4524",
    ), BUMP
    assert story.logprob == pytest.approx(-81.12938505511224, rel=1e-12), BUMP


def test_char_token_ids():
    tok = get_tokenizer("char", [TEXT])
    assert tok.vocab_size == 35, BUMP
    assert tok.encode_docs([SENTENCE]).tolist() == [
        9,
        20,
        26,
        1,
        17,
        25,
        30,
        24,
        15,
        1,
        29,
        19,
        16,
        1,
        27,
        16,
        15,
        1,
        13,
        12,
        22,
        22,
        1,
        13,
        33,
        1,
        29,
        19,
        16,
        1,
        29,
        27,
        16,
        16,
        5,
        34,
    ], BUMP


def test_bpe_64_token_ids():
    tok = get_tokenizer("bpe-64", [TEXT])
    assert tok.vocab_size == 321, BUMP
    assert tok.encode_docs([SENTENCE]).tolist() == [80, 264, 297, 117, 271, 258, 295, 267, 292, 258, 300, 46, 320], BUMP


def _tiktoken_cache_has_gpt2() -> bool:
    """Both GPT-2 files in tiktoken's own cache (where it looks, by the sha1 of each URL)."""
    import tempfile

    cache = (
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    )
    return all((Path(cache) / hashlib.sha1(f"{GPT2_URL}{f}".encode()).hexdigest()).is_file() for f in GPT2_FILES)


def _gpt2_data_dir() -> str | None:
    for root in (USER_DATA_DIR, os.path.abspath(SHARED_DATA)):
        if root and all((Path(root) / "gpt2" / f).is_file() for f in GPT2_FILES):
            return root
    return None


def test_gpt2_token_ids(monkeypatch):
    root = _gpt2_data_dir()
    if root is None and not _tiktoken_cache_has_gpt2():
        pytest.skip(
            "no GPT-2 BPE files here: $SLMLAB_DATA_DIR/gpt2, ../shared/data/gpt2 and "
            "tiktoken's cache all lack vocab.bpe + encoder.json (no download in tests)"
        )
    if root:
        monkeypatch.setenv("SLMLAB_DATA_DIR", root)
    tok = get_tokenizer("gpt2")
    assert tok.encode_docs([SENTENCE + ' "Yes!" 3 owls said.\n']).tolist() == [
        47,
        541,
        1043,
        262,
        2266,
        2613,
        416,
        262,
        5509,
        13,
        366,
        5297,
        2474,
        513,
        12334,
        7278,
        531,
        13,
        198,
        50256,
    ], BUMP


# ---------------------------------------------------------------------------
# Cache keys: functions of declared versions and the config only

KEY_CHANGED = (
    "the cache key changed, so every cached run or token folder is made again: if that "
    "is meant, bump the version and update this golden"
)
MANIFEST = {"sha256": {"train.bin": "a" * 64, "val.bin": "b" * 64}, "corpus": "synthetic"}
_KEYS = """
from slmlab import corpora, experiments, data
from slmlab.presets import preset
cfg = preset("smoke", device="cpu", dtype="float32")
d = cfg.data
identity = corpora.identity(d.corpus, d.corpus_bytes, val_fraction=d.val_fraction,
                            data_seed=d.data_seed)
print(corpora.__file__)
print(data.data_key(d, identity))
print(experiments.config_key(cfg, {manifest!r}, ["decay-everything"]))
"""


def _smoke_keys() -> list[str]:
    cfg = preset("smoke", device="cpu", dtype="float32")
    d = cfg.data
    identity = corpora.identity(d.corpus, d.corpus_bytes, val_fraction=d.val_fraction, data_seed=d.data_seed)
    return [data_key(d, identity), ex.config_key(cfg, MANIFEST, ["decay-everything"])]


def test_the_keys_of_the_smoke_preset():
    """The run keys are those main wrote before KEY_VERSION existed: cached runs still load."""
    assert _smoke_keys() == ["synthetic-char-fc0b3f6264656922", "a9f13f3d83ec"], KEY_CHANGED
    cfg = preset("smoke", device="cpu", dtype="float32")
    assert ex.config_key(cfg) == "4ceb4251db5b", KEY_CHANGED
    assert ex.config_key(cfg.replace(optimizer="muon"), MANIFEST) == "d324b5ec23cd", KEY_CHANGED


@pytest.mark.slow
def test_editing_messages_in_the_source_changes_no_cache_key(tmp_path):
    """A copy of the package with edited messages and comments, asked in a fresh process."""
    copy = tmp_path / "slmlab"
    shutil.copytree(Path(corpora.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for name, old in (
        ("corpora.py", "use at least 5000 bytes"),
        ("tokenizers.py", "allows only"),
        ("synthetic.py", "Bump by hand"),
    ):
        src = (copy / name).read_text(encoding="utf-8")
        assert old in src, f"{name} no longer says {old!r}: pick another message to edit"
        (copy / name).write_text(src.replace(old, old + " (edited)") + "# a comment\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", _KEYS.format(manifest=MANIFEST)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == str(copy / "corpora.py")  # the edited copy was the one imported
    assert out[1:] == _smoke_keys()


# ---------------------------------------------------------------------------
# Training: a seeded fp32 smoke run


class _KeepModel(Callback):
    def on_train_end(self, trainer) -> None:
        self.model = trainer.model


def test_a_seeded_smoke_run_gives_its_golden_numbers(monkeypatch):
    """preset('smoke') on one CPU thread in fp32: val loss at steps 20 and 40 within 2e-3, and
    8 greedy characters. An AMD EPYC (torch 2.13) and an Intel Xeon (torch 2.11) agreed to
    3e-7, on 1 thread and on 4. After 40 steps the model is near the unigram stage, so the
    greedy text is spaces (each by a logit margin of about 0.6, far above fp32 noise): it pins
    the sampling path; the losses pin init, schedule and batch order."""
    monkeypatch.setenv("SLMLAB_THREADS", "1")
    cfg = preset("smoke", device="cpu", dtype="float32")
    keep, data = _KeepModel(), prepare(cfg.data)
    hist = train(cfg, data=data, callbacks=[keep], progress=False)
    why = (
        "a seeded smoke run trains differently: if a change to init, schedule, batch order or "
        "the loss is meant, update these numbers and say why in the commit"
    )
    assert [e["step"] for e in hist.evals] == [20, 40], why
    assert [e["val_loss"] for e in hist.evals] == pytest.approx([3.21003, 3.14615], abs=2e-3), why
    prompt = torch.tensor([data.tokenizer.encode("Once upon a time")])  # (1, T)
    out = keep.model.generate(prompt, max_new_tokens=8, temperature=0)  # (1, T + 8)
    assert data.tokenizer.decode(out[0, prompt.size(1) :].tolist()) == " " * 8, why
