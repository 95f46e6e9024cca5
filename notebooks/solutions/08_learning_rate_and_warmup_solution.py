# %% [markdown]
# # 08 · Solution: warmup in the student's units
# The student's loop counts micro-steps; one optimizer update takes `grad_accum_steps` of
# them. So "warmup 1000" at accumulation 32 is 1000 // 32 = 31 updates, and the chat
# answer's "warmup 5000" at accumulation 16 is 312 updates.

# %% tags=["NBVAL_CHECK_OUTPUT"]
from slmlab.exercises import check_warmup_lengths


def warmup_updates(warmup_micro_steps, grad_accum_steps):
    return warmup_micro_steps // grad_accum_steps  # whole updates: the scheduler ran that many per update


check_warmup_lengths(warmup_updates);
print("student:", warmup_updates(1000, 32), "updates; chat answer:", warmup_updates(5000, 16), "updates")

# %% [markdown]
# ## Predict, then run: warmup at a too-high lr
# At lr 0.01 (the first lr above the sweep's best), warmup 10 ends at the baseline. With no
# warmup the first updates run at the full, too-high lr on a fresh model: expect a little
# worse. With warmup 30 the lr is lower for a third of the run (its average lr is lower too):
# expect clearly better. In the cpu run: 5.068 (no warmup) and 2.939 (warmup 30) around the
# baseline's 4.801; the gain of warmup 30 was larger than most would guess.

# %%
from slmlab import experiments
from slmlab.course import start
from slmlab.exercises import check_prediction

lesson = start("08_learning_rate_and_warmup", setup="lr-sweep")
cfg = lesson.cfg
high_lr = 1e-2


def val_with_warmup(w):
    c = cfg.replace(lr=high_lr, min_lr=high_lr / 10, warmup_steps=w)
    return experiments.run(c, label=f"warmup {w}", progress=False).history.final_val()


prediction = {0: 5.2, 3 * cfg.train.warmup_steps: 3.2}
check_prediction(prediction, val_with_warmup, baseline=(cfg.train.warmup_steps, val_with_warmup(cfg.train.warmup_steps)),
                 setting="warmup");
