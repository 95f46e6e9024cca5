"""Config: presets, flat field access, and every bad value refused with a clear message."""

import pytest

from slmlab.config import Config, ConfigError, validate
from slmlab.presets import LESSON_SETUPS, PRESETS, PROFILES, lesson_setup, preset, profile

# Tokens per optimizer update, by hand: micro_batch_size x grad_accum_steps x block_size.
TOKENS_PER_STEP = {
    "smoke": 8 * 1 * 32,  # 256
    "cpu": 16 * 1 * 128,  # 2,048
    "gpu": 64 * 2 * 256,  # 32,768
    "student": 32 * 32 * 128,  # 131,072: their 32 x 32 x 128 per update
    "speedrun": 24 * 1 * 64,  # 1,536
    "tinystories-cpu": 16 * 1 * 128,  # 2,048
}


def test_every_preset_is_listed_here():
    assert set(PRESETS) == set(TOKENS_PER_STEP)


@pytest.mark.parametrize("name", sorted(TOKENS_PER_STEP))
def test_presets_are_valid(name):
    cfg = validate(preset(name))
    assert cfg.name == name
    assert cfg.tokens_per_step == TOKENS_PER_STEP[name]


def test_total_tokens_of_the_student_run():
    """625 updates of 131,072 tokens: the student's "20000 iterations" are 81.92M tokens."""
    assert preset("student").total_tokens == 81_920_000
    assert preset("smoke").total_tokens == 40 * 256


@pytest.mark.parametrize("setup", sorted(LESSON_SETUPS))
@pytest.mark.parametrize("profile_name", PROFILES)
def test_lesson_setups_are_valid_in_every_profile(setup, profile_name):
    changes = lesson_setup(setup, profile_name)
    cfg = validate(preset(profile_name, **changes))
    assert all(cfg.get(k) == v for k, v in changes.items())


def test_lesson_setup_is_a_copy_and_unknown_names_are_refused():
    lesson_setup("small-sweep", "cpu")["max_steps"] = 1
    assert lesson_setup("small-sweep", "cpu")["max_steps"] == 300
    with pytest.raises(ConfigError, match="lesson setup 'huge' is unknown"):
        lesson_setup("huge", "cpu")
    with pytest.raises(ConfigError, match="no 'laptop' profile"):
        lesson_setup("small-sweep", "laptop")


def test_replace_by_flat_name_copies():
    base = preset("smoke")
    cfg = base.replace(lr=1e-4, n_layer=3, corpus="shakespeare", data_seed=7)
    assert (cfg.train.lr, cfg.model.n_layer, cfg.data.corpus, cfg.data.data_seed) == (1e-4, 3, "shakespeare", 7)
    assert base.train.lr != 1e-4  # the preset itself is untouched
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_set_from_string_parses_with_the_field_type():
    cfg = preset("smoke")
    assert cfg.set_from_string("lr=3e-4").train.lr == 3e-4
    assert cfg.set_from_string("max_steps=12").train.max_steps == 12
    assert cfg.set_from_string("compile=true").train.compile is True
    assert cfg.set_from_string("max_steps=1e4").train.max_steps == 10_000
    with pytest.raises(ConfigError, match="max_steps='many': expected a whole number"):
        cfg.set_from_string("max_steps=many")
    with pytest.raises(ConfigError, match="max_steps='2.5': expected a whole number"):
        cfg.set_from_string("max_steps=2.5")  # never truncated to 2
    with pytest.raises(ConfigError, match="compile='maybe': expected True or False"):
        cfg.set_from_string("compile=maybe")
    with pytest.raises(ConfigError, match="unknown config field 'learning_rate'"):
        cfg.set_from_string("learning_rate=1e-3")
    with pytest.raises(ConfigError, match="field=value"):
        cfg.set_from_string("lr")


def test_fields_that_may_be_none_parse_none_and_their_own_type():
    """vocab_size is `int | None`: its default None still parses as a whole number."""
    cfg = preset("smoke")
    assert cfg.model.vocab_size is None
    assert cfg.set_from_string("vocab_size=300").model.vocab_size == 300
    assert cfg.set_from_string("vocab_size=none").model.vocab_size is None
    with pytest.raises(ConfigError, match="vocab_size='big': expected a whole number or none"):
        cfg.set_from_string("vocab_size=big")
    with pytest.raises(ConfigError, match="lr='none': expected a number"):
        cfg.set_from_string("lr=none")  # None only where the field allows it


BAD = [
    (dict(min_lr=1e-2, lr=1e-3), "min_lr.*RAISE"),
    (dict(warmup_steps=40, max_steps=40), "warmup_steps"),
    (dict(dropout=1.0), "dropout"),
    (dict(dropout=-0.1), "dropout"),
    (dict(n_embd=30, n_head=4), "n_embd=30 is not divisible by n_head=4"),
    (dict(n_layer=0), "n_layer"),
    (dict(block_size=-8), "block_size"),
    (dict(micro_batch_size=0), "micro_batch_size"),
    (dict(grad_accum_steps=0), "grad_accum_steps"),
    (dict(eval_interval=0), "eval_interval"),
    (dict(eval_batches=0), "eval_batches"),
    (dict(lr=0.0), "lr=0.0"),
    (dict(lr=float("nan")), "lr=nan"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(grad_clip=-1.0), "grad_clip"),
    (dict(beta2=1.0), "beta2"),
    (dict(early_stop_patience=-1), "early_stop_patience"),
    (dict(dtype="fp8"), "dtype"),
    (dict(device="tpu"), "device"),
    (dict(data_fraction=0.0), "data_fraction"),
    (dict(data_fraction=1.5), "data_fraction"),
    (dict(val_fraction=1.0), "val_fraction"),
    (dict(corpus="wikipedia"), "corpus='wikipedia' is unknown"),
    (dict(corpus="file:"), "file:"),
    (dict(tokenizer="sentencepiece"), "tokenizer='sentencepiece' is unknown"),
    (dict(tokenizer="bpe-x"), "tokenizer"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(max_steps=2.5), "max_steps"),
    (dict(warmup_steps=2.5), "warmup_steps=2.5 must be a whole number"),
    (dict(min_lr="1e-4"), "min_lr='1e-4' must be a number"),
    (dict(dropout="0.1"), "dropout='0.1' must be a number"),
    (dict(weight_decay=None), "weight_decay=None must be a number"),
    (dict(lr=True), "lr=True must be a number"),
    (dict(compile="yes"), "compile='yes' must be True or False"),
    (dict(corpus_bytes=1.5), "corpus_bytes"),
    (dict(vocab_size=3.0), "vocab_size"),
    (dict(tokenizer=4096), "tokenizer=4096 must be text"),
    (dict(seed=-1), "seed=-1 must be >= 0"),
    (dict(data_seed=-5), "data_seed"),
]


@pytest.mark.parametrize("changes,match", BAD)
def test_every_bad_value_is_refused_with_field_and_fix(changes, match):
    with pytest.raises(ConfigError, match=match) as err:
        validate(preset("smoke").replace(**changes))
    assert "\n" not in str(err.value)  # one line


def test_unknown_field_suggests_close_names():
    with pytest.raises(ConfigError, match="did you mean.*min_lr"):
        preset("smoke").replace(min_learning_rate=1e-5)
    with pytest.raises(ConfigError, match="unknown config field 'learning_rate'"):
        preset("smoke").replace(learning_rate=1e-5)


def test_unknown_preset_and_profile(monkeypatch):
    with pytest.raises(ConfigError, match="preset"):
        preset("huge")
    monkeypatch.setenv("SLMLAB_PROFILE", "laptop")
    with pytest.raises(ConfigError, match="SLMLAB_PROFILE"):
        profile()
    monkeypatch.setenv("SLMLAB_PROFILE", "CPU")
    assert profile() == "cpu"


def test_config_is_the_schema_and_imports_nothing_of_slmlab():
    """Presets live in slmlab.presets; config.py imports no slmlab module at its top level."""
    import ast
    import inspect

    from slmlab import config

    tree = ast.parse(inspect.getsource(config))
    top = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert all(n.level == 0 and not (n.module or "").startswith("slmlab") for n in top)
    assert not {"PRESETS", "preset", "lesson_setup"} & set(config.__all__)


def test_names_moved_to_presets_still_import_from_config():
    """Code written before the move keeps working: the config module hands them on."""
    from slmlab import config, presets
    from slmlab.config import preset as old_preset

    assert old_preset is presets.preset and config.LESSON_SETUPS is presets.LESSON_SETUPS
    with pytest.raises(AttributeError, match="no attribute 'presett'"):
        config.presett  # noqa: B018
