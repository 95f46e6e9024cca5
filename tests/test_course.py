"""The lesson session: start() builds a notebook's config in a fixed order (preset, lesson
setup, the notebook's changes) and names what it picked."""

import pytest

from slmlab.config import ConfigError
from slmlab.course import start
from slmlab.presets import lesson_setup, preset


def test_start_applies_the_lesson_setup_on_the_preset_and_changes_on_top(monkeypatch, capsys):
    monkeypatch.setenv("SLMLAB_PROFILE", "cpu")
    lesson = start("05_data_size", setup="small-sweep", max_steps=70)
    setup = lesson_setup("small-sweep", "cpu")
    assert lesson.profile == "cpu" and lesson.setup == "small-sweep" and lesson.cfg.name == "cpu"
    assert lesson.cfg.train.max_steps == 70 != setup["max_steps"]  # the notebook's change wins
    assert {k: lesson.cfg.get(k) for k in setup if k != "max_steps"} == {
        k: v for k, v in setup.items() if k != "max_steps"
    }
    untouched = preset("cpu").get("micro_batch_size")
    assert "micro_batch_size" not in setup and lesson.cfg.train.micro_batch_size == untouched
    assert "05_data_size: profile cpu | setup small-sweep | corpus" in capsys.readouterr().out


def test_start_without_a_setup_is_the_preset(monkeypatch):
    monkeypatch.setenv("SLMLAB_PROFILE", "cpu")
    lesson = start("02_build_a_gpt")
    assert lesson.setup is None and lesson.cfg.model == preset("cpu").model


def test_an_unknown_setup_names_the_known_ones():
    with pytest.raises(ConfigError, match="lesson setup 'tiny' is unknown; use one of small-sweep"):
        start("05_data_size", setup="tiny")
