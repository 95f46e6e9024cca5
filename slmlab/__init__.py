"""slmlab: the helper package of a course that builds, trains and diagnoses a small GPT.

Notebooks import from a small public surface, one module per concern, and never
copy code out of the package. A lesson writes inline only the piece it teaches.

- `slmlab.course.start`: the first cell of every notebook. It picks the profile
  (smoke / cpu / gpu) and the device, and returns a `Lesson` that holds the config.
- `slmlab.config`: the dataclasses, the named presets and `validate`.
- `slmlab.data`: `prepare` (corpus -> tokenizer -> token files) and `BatchSampler`.
- `slmlab.model`: the `GPT`.
- `slmlab.train`: `train`, the `Trainer`, `lr_at`, the optimizer and its decay groups
  (the schedule itself lives in `slmlab.schedule`, data-parallel runs in `slmlab.distributed`).
- `slmlab.experiments`: cached runs (`run`) and `sweep`s.
- `slmlab.diagnostics`: lint, the loss ladder, the doctor and the health checks.
- `slmlab.plots`: every figure.
- `slmlab.widgets`: the `Dashboard`.
- `slmlab.exercises`: one `check_*` per exercise.

The other modules serve these. The command line (`python -m slmlab`) is in cli.py.

This file imports nothing, so `import slmlab` stays instant. Import the submodule
you need, e.g. `from slmlab.config import preset`.
"""
