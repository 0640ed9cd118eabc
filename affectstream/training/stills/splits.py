"""Train / validation / test splits that never put one person in two splits.

``split_by_group`` assigns whole groups (subjects) to splits. With multi-label
targets (action units) a plain random assignment of ~70 subjects easily leaves a
rare AU without a single positive in validation or test, where its F1 is then
undefined. So the assignment is stratified, in the manner of iterative
stratification (Sechidis et al. 2011) applied to groups: the rarest label is
placed first, each of its groups going to a split that has none of it yet, else
to the split that still wants the most of it; groups without any positive fill
the remaining room. A seed breaks ties,
so the split is fixed by (data, fractions, seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectstream.errors import UserInputError

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class GroupSplit:
    """How a split was made, to be recorded beside it."""

    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.fractions) != 3 or any(not f > 0 for f in self.fractions):
            raise UserInputError(f"split fractions must be three numbers > 0, got {self.fractions}")
        total = float(sum(self.fractions))
        object.__setattr__(self, "fractions", tuple(float(f) / total for f in self.fractions))


def split_by_group(groups: np.ndarray, positives: np.ndarray | None, options: GroupSplit) -> np.ndarray:
    """(N,) split names for N items of ``groups``; ``positives`` (N, L) 0/1 (or None) to stratify by."""
    groups = np.asarray(groups).astype(str)
    names, inverse = np.unique(groups, return_inverse=True)
    if len(names) < len(SPLITS):
        raise UserInputError(f"{len(names)} groups cannot be split three ways without sharing one")
    rng = np.random.default_rng(options.seed)
    fractions = np.asarray(options.fractions)
    sizes = np.bincount(inverse, minlength=len(names)).astype(float)
    if positives is None:
        per_group = np.zeros((len(names), 0))
    else:
        positives = np.asarray(positives, dtype=float)
        per_group = np.zeros((len(names), positives.shape[1]))
        np.add.at(per_group, inverse, positives > 0)
    want_items = fractions * sizes.sum()
    want_labels = fractions[:, None] * per_group.sum(axis=0)[None, :]
    assigned = np.full(len(names), -1)
    order = rng.permutation(len(names))

    have_labels = np.zeros_like(want_labels)

    def place(group: int, label: int | None) -> None:
        if label is None:
            demand, lacking = want_items, np.zeros(len(SPLITS), bool)
        else:
            # A split without any positive of the label comes first: a rare AU gets one in every split
            # (its F1 is undefined where it never occurs), then the rest follow the fractions.
            demand, lacking = want_labels[:, label], have_labels[:, label] == 0
        # Most wanted first; then the split with most room for items; then at random. When only as
        # many groups are left as splits are still empty, the empty ones come first: none stays empty.
        empty = np.array([not np.any(assigned == k) for k in range(len(SPLITS))])
        must = empty if np.sum(assigned < 0) <= empty.sum() else np.zeros(len(SPLITS), bool)
        keys = np.lexsort((rng.random(len(SPLITS)), -want_items, -demand, ~lacking, ~must))
        split = int(keys[0])
        assigned[group] = split
        want_items[split] -= sizes[group]
        want_labels[split] -= per_group[group]
        have_labels[split] += per_group[group]

    while True:
        left = assigned < 0
        remaining = per_group[left].sum(axis=0)
        candidates = np.flatnonzero(remaining > 0)
        if candidates.size == 0:
            break
        label = int(candidates[np.argmin(remaining[candidates])])  # the rarest label still unplaced
        for group in order:
            if assigned[group] < 0 and per_group[group, label] > 0:
                place(int(group), label)
    for group in order:
        if assigned[group] < 0:
            place(int(group), None)
    return np.asarray(SPLITS, dtype=object)[assigned[inverse]].astype(str)
