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
