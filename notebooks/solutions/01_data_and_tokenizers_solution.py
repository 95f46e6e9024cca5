# %% [markdown]
# # 01 · Solution: count the pairs
# `zip(ids, ids[1:])` walks the adjacent pairs; a Counter counts them. BPE training merges the
# most frequent one, then counts again (slmlab updates only the counts a merge changes).

# %% tags=["NBVAL_CHECK_OUTPUT"]
from collections import Counter

from slmlab.exercises import check_pair_counts


def count_pairs(ids):
    return dict(Counter(zip(ids, ids[1:])))


check_pair_counts(count_pairs);
