"""Diagnostics: what a loss number means, what is wrong with a config or a run.

One module per tool, all importable from here (`from slmlab import diagnostics as d`):
- findings:    `Finding`, `rank`, `format_findings`: the one shape every check
               reports in (code, severity, message with the numbers and the fix,
               data, notebook); `findings_table`: the same as a DataFrame, in the
               order to fix them;
- loss_ladder: `ladder(data)`: uniform ln V, unigram and bigram cross-entropy on val
               (add-k counts from train), the synthetic entropy floor, the student's
               published point; nats/token and bits per byte;
- config_lint: `lint(config)` for slmlab configs and the student notebook's words
               (`STUDENT_CONFIG`, `CHAT_CONFIG`);
- script_lint: `lint_script(path)` for a training script or notebook read with
               `ast`, never run (the same codes, each with its line);
               `lint_file(path)` for .json, .py and .ipynb; `read_script(path)`;
- schedules:   `schedule(config)`, `student_schedule(...)`: lr per update and per
               micro-step, the student's rebuilt with real torch schedulers;
- doctor:      `diagnose(history, ladder)`: the curve rules, on a typed `Curves`;
               `history_from_evals`, `student_history`, `clipped_fraction` (how often
               clipping fired);
- symptoms:    `diagnose_stats(stats, history)`: the symptoms inside a run, from its
               TrainingStats, the earliest first;
- checkup:     `checkup(path, ...)`: the doctor on a student's own log (what `doctor
               PATH` prints); `read_any(text_or_path, vocab_size=, grad_accum_steps=)`
               -> (History, Checkup): the same on pasted text or an upload's bytes;
- readers:     `read_log(path, grad_accum_steps)` -> (History, ReadReport), `read_text`;
               `READERS`, the registry of log formats (one reader each, parsers in
               log_formats): the Vizuara notebook's prints, nanoGPT's stdout, CSV/TSV,
               JSON lines, trainer_state.json, Lightning's metrics.csv, LLMs-from-scratch,
               litgpt, mlx-lm, progress bars, a hand-written table, slmlab runs; never
               executes anything;
- health:      `loss_at_init`, `overfit_one_batch`, `lr_find`, and `HealthChecks`,
               a Callback that has the trainer run both checks before training;
- stats:       `TrainingStats`, a trainer Callback sampling activations, attention
               entropy, gradient norms and update ratios (a recorder: cached runs
               give its numbers back), and the alarm levels diagnose_stats reads them with.

It reads histories (slmlab.history), models and token files; it draws nothing
(slmlab.plots) and knows no widgets. The CLI (`doctor`, `lint`, `ladder`) prints
`format_findings(...)` and `Ladder.as_table()`.
"""

from .checkup import Checkup, checkup, read_any
from .config_lint import CHAT_CONFIG, STUDENT_CONFIG, lint, normalize_config
from .doctor import (
    MEMORIZING_GAP_NATS,
    Curves,
    clipped_fraction,
    diagnose,
    history_from_evals,
    passes_over_data,
    student_history,
)
from .findings import SEVERITIES, Finding, findings_table, format_findings, has_errors, rank
from .health import (
    HealthChecks,
    InitCheck,
    LRFinderResult,
    OverfitCheck,
    loss_at_init,
    lr_find,
    overfit_one_batch,
)
from .loss_ladder import (
    STUDENT_PUBLISHED,
    Ladder,
    Rung,
    bigram_cross_entropy,
    bits_per_byte,
    ladder,
    unigram_cross_entropy,
)
from .readers import FORMATS, READERS, ReadReport, read_log, read_text
from .schedules import Schedule, schedule, student_schedule
from .script_lint import ScriptFacts, lint_file, lint_script, read_script
from .stats import (
    ATTENTION_COLLAPSED_NATS,
    EXPLODING_FACTOR,
    GELU_SATURATED_SHARE,
    RESIDUAL_RMS_HIGH,
    SATURATION_THRESHOLD,
    UPDATE_RATIO_HIGH,
    VANISHING_GRAD_NORM,
    TrainingStats,
)
from .symptoms import diagnose_stats

__all__ = [
    "Finding",
    "SEVERITIES",
    "findings_table",
    "format_findings",
    "rank",
    "has_errors",
    "Rung",
    "Ladder",
    "ladder",
    "bits_per_byte",
    "unigram_cross_entropy",
    "bigram_cross_entropy",
    "STUDENT_PUBLISHED",
    "lint",
    "STUDENT_CONFIG",
    "CHAT_CONFIG",
    "normalize_config",
    "lint_script",
    "lint_file",
    "read_script",
    "ScriptFacts",
    "Schedule",
    "schedule",
    "student_schedule",
    "diagnose",
    "diagnose_stats",
    "history_from_evals",
    "student_history",
    "MEMORIZING_GAP_NATS",
    "passes_over_data",
    "clipped_fraction",
    "checkup",
    "Checkup",
    "Curves",
    "read_any",
    "read_log",
    "read_text",
    "ReadReport",
    "FORMATS",
    "READERS",
    "HealthChecks",
    "InitCheck",
    "OverfitCheck",
    "loss_at_init",
    "overfit_one_batch",
    "LRFinderResult",
    "lr_find",
    "TrainingStats",
    "SATURATION_THRESHOLD",
    "GELU_SATURATED_SHARE",
    "ATTENTION_COLLAPSED_NATS",
    "VANISHING_GRAD_NORM",
    "EXPLODING_FACTOR",
    "UPDATE_RATIO_HIGH",
    "RESIDUAL_RMS_HIGH",
]
