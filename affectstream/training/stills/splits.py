"""Train / validation / test splits that never put one person in two splits.

``split_by_group`` assigns whole groups (subjects) to splits. With multi-label
targets (action units) a plain random assignment of ~70 subjects easily leaves a
rare AU without a single positive in validation or test, where its F1 is then
undefined. So the assignment is stratified, in the manner of iterative
stratification (Sechidis et al. 2011) applied to groups: the rarest label is
placed first, each of its groups going to a split that has none of it yet, else
to the split that still wants the most of it; groups without any positive fill
the remaining room. A seed breaks ties,
so the split is fixed by (data, fractions, seed). ``fold_by_group`` divides
groups the same way into k equal folds for cross-validation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from affectstream.core.errors import UserInputError

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class GroupSplit:
    """How a split was made, to be recorded beside it."""

    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.fractions) != 3 or any(not (f > 0 and math.isfinite(f)) for f in self.fractions):
            raise UserInputError(f"split fractions must be three finite numbers > 0, got {self.fractions}")
        shares = [float(f) for f in self.fractions]
        if not math.isfinite(sum(shares)):  # three huge numbers (1e308 each): their sum overflows, not their shares
            shares = [f / max(shares) for f in shares]
        total = sum(shares)
        object.__setattr__(self, "fractions", tuple(f / total for f in shares))


def split_by_group(groups: np.ndarray, positives: np.ndarray | None, options: GroupSplit) -> np.ndarray:
    """(N,) split names for N items of ``groups``; ``positives`` (N, L) 0/1 (or None) to stratify by."""
    parts = _assign_groups(groups, positives, np.asarray(options.fractions), options.seed, "split three ways")
    return np.asarray(SPLITS, dtype=object)[parts].astype(str)


def fold_by_group(groups: np.ndarray, positives: np.ndarray | None, folds: int, seed: int = 0) -> np.ndarray:
    """(N,) fold numbers 0..folds-1 for cross-validation: equal shares of groups, stratified the same way."""
    if folds < 2:
        raise UserInputError(f"cross-validation needs at least 2 folds, got {folds}")
    return _assign_groups(groups, positives, np.full(folds, 1.0 / folds), seed, f"divided into {folds} folds")


def _assign_groups(groups: np.ndarray, positives: np.ndarray | None, fractions: np.ndarray, seed: int,
                   purpose: str) -> np.ndarray:
    """(N,) part index per item: whole groups to parts of the given fractions, rare labels spread first."""
    parts = len(fractions)
    groups = np.asarray(groups).astype(str)
    names, inverse = np.unique(groups, return_inverse=True)
    if len(names) < parts:
        raise UserInputError(f"{len(names)} groups cannot be {purpose} without sharing one")
    rng = np.random.default_rng(seed)
    fractions = np.asarray(fractions, dtype=float)
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
            demand, lacking = want_items, np.zeros(parts, bool)
        else:
            # A part without any positive of the label comes first: a rare AU gets one in every part
            # (its F1 is undefined where it never occurs), then the rest follow the fractions.
            demand, lacking = want_labels[:, label], have_labels[:, label] == 0
        # Most wanted first; then the part with most room for items; then at random. When only as
        # many groups are left as parts are still empty, the empty ones come first: none stays empty.
        empty = np.array([not np.any(assigned == k) for k in range(parts)])
        must = empty if np.sum(assigned < 0) <= empty.sum() else np.zeros(parts, bool)
        keys = np.lexsort((rng.random(parts), -want_items, -demand, ~lacking, ~must))
        part = int(keys[0])
        assigned[group] = part
        want_items[part] -= sizes[group]
        want_labels[part] -= per_group[group]
        have_labels[part] += per_group[group]

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
    return assigned[inverse]
