"""slmlab: the helper package of a course that builds, trains and diagnoses a small GPT.

Notebooks import from a small public surface, one module per concern, and never
copy code out of the package. A lesson writes inline only the piece it teaches.

The 27 modules a notebook may import (`NOTEBOOK_MODULES`), and what they hold; a notebook
imports only the names in a module's `__all__` (tests/test_api.py holds both):

- `slmlab.course`: `start`, the first cell of every notebook (the profile, the device,
  a `Lesson` holding the config), and `setup_check`.
- `slmlab.config`: the dataclasses (`Config`, `ModelConfig`, ...), `validate`.
- `slmlab.presets`: the named presets (`preset`), the profile switch and `lesson_setup`.
- `slmlab.data`: `prepare` (corpus -> tokenizer -> token files) and `BatchSampler`.
- `slmlab.corpora`, `slmlab.tokenizers`, `slmlab.synthetic`: the texts, the tokenizers,
  the story grammar with its exact entropy.
- `slmlab.model`: the `GPT` and its pieces.
- `slmlab.train`: `train`, the `Trainer`, `lr_at`, evaluation, the optimizer and its
  decay groups.
- `slmlab.callbacks`: the `Callback` contract (`TrainerView`) and stock callbacks
  (`StopAt`, `TimeLimit`, `ReplayLR`, ...).
- `slmlab.history`, `slmlab.checkpoint`: a run's records; its checkpoints.
- `slmlab.experiments`: cached runs (`run`; several at once, `run_all`), `sweep`s, `effect`s.
- `slmlab.search`, `slmlab.recipes`, `slmlab.scaling`: Optuna studies of cached runs; the
  student's and the chat answer's recipes; parameter and FLOP counts.
- `slmlab.diagnostics`: lint, the loss ladder, the doctor, the health checks, statistics.
- `slmlab.plots`, `slmlab.widgets`: every figure; the `Dashboard`.
- `slmlab.exercises`: one `check_*` per exercise.
- `slmlab.capstone`: notebook 13's budget run, samples and leaderboard.
- `slmlab.device`, `slmlab.paths`: the device and its dtypes; where caches and runs live.
- `slmlab.clinic`: `read_your_run` and `RunClinic`, notebook 04's "your run" section.
- `slmlab.gpu_study`: the student's recipe at its own scale on one GPU; its committed
  results, which notebook 04 draws.
- `slmlab.bench`: `run_case`, one speed measurement (notebook 04 times the student's model).
- `slmlab.scale_up`: four lessons' verdicts checked at 4 x 256 on the TinyStories sample; its
  committed results, which notebook 11 section 9 reads.

The other modules serve these (schedule, distributed, optim, runfolder, pool, files,
downloads, ngram, child, targets, gpu_check, notebooks, editions, cli). The command line
(`python -m slmlab`) is in cli.py.

This file imports nothing, so `import slmlab` stays instant. Import the submodule
you need, e.g. `from slmlab.presets import preset`.
"""

NOTEBOOK_MODULES = (
    "course",
    "config",
    "presets",
    "data",
    "corpora",
    "tokenizers",
    "synthetic",
    "model",
    "train",
    "callbacks",
    "history",
    "checkpoint",
    "experiments",
    "search",
    "recipes",
    "scaling",
    "diagnostics",
    "plots",
    "widgets",
    "exercises",
    "capstone",
    "device",
    "paths",
    "clinic",
    "gpu_study",
    "bench",
    "scale_up",
)
