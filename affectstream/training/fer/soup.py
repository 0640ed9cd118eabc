"""One network from several fine-tuned runs: their weights averaged, greedily on PublicTest (a model soup).

Runs fine-tuned from one start (here: a trained network and distillations started from
it) stay in one basin of the loss, so the mean of their weights is itself a network,
and often a better one than each (Wortsman et al. 2022, "Model soups"). Unlike an
ensemble it costs one network per face. Greedy: the ingredients are ranked by their
own PublicTest accuracy (with the mirror image, as shipped); from the best one, each
next one stays if the uniform mean with it scores at least as well on PublicTest. A
run from another start usually lowers the score and is then left out; a soup where every
other run lowers it is refused. PrivateTest is never looked at here (finalize reports it).

BatchNorm's running statistics are averaged like the weights. Recomputing them on
centre-cropped Training faces lost about 1.4 points of PublicTest on the first soup:
the networks learnt on augmented views, whose statistics differ.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch

from affectstream.core.atomic import atomic_write, write_text_atomic
from affectstream.core.errors import UserInputError
from affectstream.training.fer.data import FerSplit
from affectstream.training.fer.ensemble import member_summary
from affectstream.training.fer.evaluate import predict_probs
from affectstream.training.fer.model import ExprNet, ExprNetConfig
from affectstream.training.fer.report import plot_soup

SOUP_FILE = "soup.json"
SOUP_PLOT = "soup.png"
# A run folder's weights, or a shipped asset's (an asset folder holds them under the second name).
WEIGHT_NAMES = ("best.safetensors", "expr_cnn.safetensors")
MIN_INGREDIENTS = 2


@dataclass(frozen=True)
class Ingredient:
    folder: Path
    weights: str  # the weights file's name in the folder: best.safetensors (a run) or expr_cnn.safetensors (an asset)
    public_test_accuracy: float  # alone, with the mirror image
    soup_accuracy: float  # the soup's PublicTest accuracy once this one was tried (its own for the first)
    kept: bool
    run: dict  # how it was trained (affectstream.training.fer.ensemble.member_summary)

    @property
    def is_asset(self) -> bool:
        return self.weights == WEIGHT_NAMES[1]

    def to_json(self) -> dict:
        return {"folder": str(self.folder), "weights": self.weights, "public_test_accuracy": self.public_test_accuracy,
                "soup_public_test_accuracy": self.soup_accuracy, "kept": self.kept, "run": self.run}


@dataclass(frozen=True)
class Soup:
    ingredients: tuple[Ingredient, ...]  # in the order they were tried: best alone first
    state: dict[str, torch.Tensor]  # the averaged weights of the kept ones
    config: ExprNetConfig  # the architecture every ingredient shares

    @property
    def kept(self) -> tuple[Path, ...]:
        return tuple(i.folder for i in self.ingredients if i.kept)

    @property
    def public_test_accuracy(self) -> float:
        return max(i.soup_accuracy for i in self.ingredients if i.kept)


def weights_file(folder: Path) -> Path:
    folder = Path(folder)
    if folder.is_file():
        raise UserInputError(f"{folder}: give the run's folder, not its weights file")
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise UserInputError(f"{folder}: no {' or '.join(WEIGHT_NAMES)} (a finished train-fer run or an expr-cnn asset?)")


def _read_network(path: Path) -> ExprNet:
    """One single-network run's weights; an ensemble's members share no weights to average."""
    from affectstream.training.fer.loop import load_weights

    net = load_weights(path)  # names the file when its tensors do not fit its metadata
    if not isinstance(net, ExprNet):
        raise UserInputError(f"{path}: not a single expr-cnn network (an ensemble cannot be averaged)")
    return net


def average_state(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform mean of the floating-point tensors, in their own dtype (summed in at least float32); counters
    (BatchNorm's batches seen) are the first state's."""
    def mean(key: str, like: torch.Tensor) -> torch.Tensor:
        wide = torch.promote_types(like.dtype, torch.float32)
        return torch.stack([s[key].to(wide) for s in states]).mean(0).to(like.dtype)

    return {k: mean(k, v) if v.is_floating_point() else v.clone() for k, v in states[0].items()}


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def greedy_soup(folders: Sequence[Path], val: FerSplit, log=print) -> Soup:
    """Average the runs' weights greedily on ``val`` (PublicTest); see the module's docstring."""
    folders = [Path(f) for f in folders]
    if len(folders) < MIN_INGREDIENTS:
        raise UserInputError(f"a soup needs at least {MIN_INGREDIENTS} runs, got {len(folders)}")
    paths = [weights_file(f) for f in folders]
    nets = [_read_network(path) for path in paths]
    states = [net.state_dict() for net in nets]
    for i in range(len(folders)):  # one network given twice (or shipped under two names)
        for j in range(i):
            if _same_weights(states[i], states[j]):
                raise UserInputError(f"{folders[i]} and {folders[j]} hold the same weights; give each network once")
    runs = [member_summary(f) for f in folders]  # before any scoring: a folder without its history fails at once
    config = nets[0].config
    for path, net in zip(paths, nets):
        if net.config != config:
            raise UserInputError(f"{path}: architecture {net.config} differs from {paths[0]}'s {config}; "
                                 "only networks of one shape can be averaged")
    labels = val.labels.numpy()

    def accuracy(state: dict[str, torch.Tensor]) -> float:
        net = ExprNet(config)
        net.load_state_dict(state)
        return float((predict_probs(net.eval(), val.images, flip_tta=True).argmax(1) == labels).mean())

    alone = [accuracy(state) for state in states]
    order = sorted(range(len(folders)), key=lambda i: -alone[i])  # stable: ties keep the given order
    kept, best = [order[0]], alone[order[0]]
    tried = [(order[0], best, True)]
    log(f"start: {folders[order[0]]} (PublicTest {best:.4f} alone)")
    for i in order[1:]:
        score = accuracy(average_state([states[j] for j in kept + [i]]))
        keep = score >= best
        tried.append((i, score, keep))
        log(f"{'kept' if keep else 'left out'}: {folders[i]} (PublicTest {alone[i]:.4f} alone; "
            f"the soup with it {score:.4f}, without {best:.4f})")
        if keep:
            kept.append(i)
            best = score
    if len(kept) == 1:
        raise UserInputError(f"every other run lowered {folders[order[0]]}'s PublicTest accuracy ({alone[order[0]]:.4f}): "
                             "nothing to average (runs from different starts do not mix); ship that run alone")
    ingredients = tuple(Ingredient(folders[i], paths[i].name, alone[i], score, keep, runs[i]) for i, score, keep in tried)
    return Soup(ingredients, average_state([states[j] for j in kept]), config)


# What another kind of run leaves in a folder; a soup is not written over them.
OTHER_RUN_FILES = ("history.json", "config.json", "last.pt", "members.json")


def write_soup(soup: Soup, out_dir: Path) -> Path:
    """<out_dir>/best.safetensors (the averaged network), soup.json (every ingredient, kept or not, and its run), soup.png."""
    from safetensors.torch import save as safetensors_bytes

    out_dir = Path(out_dir)
    if any(out_dir.resolve() == Path(i.folder).resolve() for i in soup.ingredients):
        raise UserInputError(f"--out {out_dir} is one of the soup's runs; write the soup to a folder of its own")
    others = [name for name in OTHER_RUN_FILES if (out_dir / name).exists()]
    if others:
        raise UserInputError(f"{out_dir} holds another run ({', '.join(others)}); write the soup to a folder of its own")
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"model": json.dumps(asdict(soup.config)), "soup": json.dumps([str(f) for f in soup.kept])}
    with atomic_write(out_dir / "best.safetensors") as fh:
        fh.write(safetensors_bytes({k: v.contiguous() for k, v in soup.state.items()}, metadata=meta))
    record = {
        "rule": "greedy on PublicTest (flip TTA): ranked by accuracy alone; each next run kept if the uniform mean "
                "with it scores at least as well",
        "public_test_accuracy": soup.public_test_accuracy,
        "ingredients": [i.to_json() for i in soup.ingredients],
    }
    write_text_atomic(out_dir / SOUP_FILE, json.dumps(record, indent=2) + "\n")
    plot_soup(soup.ingredients, out_dir / SOUP_PLOT)
    return out_dir / "best.safetensors"
