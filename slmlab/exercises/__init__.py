"""Exercise checks: one function per exercise, the same for notebooks and solutions.

Each `check_*` takes the student's function, runs it on cases whose answers
slmlab computes another way, and prints one of:
- "not attempted yet" (the stub still raises NotImplementedError),
- "correct" (the checks of 02's modules add what they compared with),
- what is wrong, with the first failing case.
It returns True only when correct. Notebooks hold the stubs; the worked
solutions in notebooks/solutions/ call the same checks. `check_prediction` takes
the student's predicted results of a training run instead of a function: it
trains the run and compares.

The checks live in one module per lesson group, and notebooks import them from here
(`from slmlab.exercises import check_head`):
- `basics`: 00-01, what a loss number means and BPE's pair counts;
- `model_pieces`: 02, causal attention and the GPT piece by piece (the largest harness);
- `training`: 03-09, the lr schedule, predicting a run, updates and tokens, early
  stopping, dropout, weight-decay groups, gradient accumulation;
- `runs`: 10-12, naming a broken run, the size that wins a budget, a search's grid and
  verdicts;
- `capstone`: 13, the class challenge;
- `_harness`: what every check shares (run the student's code, print the verdict).
A new exercise's check goes into its lesson group's module and its name into `__all__`
here and there.
"""

from .basics import check_pair_counts, check_uniform_loss, check_unigram_loss
from .capstone import check_capstone
from .model_pieces import (
    check_attention,
    check_block,
    check_causal_attention,
    check_gpt,
    check_head,
    check_mlp,
)
from .runs import check_diagnosis, check_grid_size, check_size_winner, check_verdicts
from .training import (
    check_accumulated_loss,
    check_best_step,
    check_decay_split,
    check_dropout,
    check_lr_schedule,
    check_prediction,
    check_updates_and_tokens,
)

__all__ = [
    "check_uniform_loss",
    "check_unigram_loss",
    "check_pair_counts",
    "check_causal_attention",
    "check_head",
    "check_attention",
    "check_mlp",
    "check_block",
    "check_gpt",
    "check_lr_schedule",
    "check_prediction",
    "check_updates_and_tokens",
    "check_best_step",
    "check_dropout",
    "check_decay_split",
    "check_accumulated_loss",
    "check_diagnosis",
    "check_size_winner",
    "check_grid_size",
    "check_verdicts",
    "check_capstone",
]
