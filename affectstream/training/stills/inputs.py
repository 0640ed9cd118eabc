"""Which labelled still sets an import reads, and from where: the shared sets, CSVs of one's own."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from affectstream.core.errors import UserInputError
from affectstream.training.stills.framing import Framing
from affectstream.training.stills.splits import GroupSplit

if TYPE_CHECKING:
    from affectstream.training.stills.sets import StillSet

# The repository's sibling ../shared/data, where the shared sets live.
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
SHARED_SETS = ("fer2013", "ckplus-au", "diffusionfer-va")


def shared_set_paths(shared: Path, fer2013: Path | None) -> dict[str, Path]:
    """Where each shared set is read from (FER2013's npz may be given on its own)."""
    return {"fer2013": fer2013 or shared / "fer2013" / "fer2013.npz",
            "ckplus-au": shared / "ckplus-au", "diffusionfer-va": shared / "diffusionfer-va"}


def set_inputs(sets: Sequence[str], csv: Sequence[str | Path], shared: Path,
               fer2013: Path | None) -> dict[str, object]:
    """What the chosen sets read, labelled for check_inputs_kept."""
    paths = shared_set_paths(shared, fer2013)
    return {f"{name} set": paths[name] for name in dict.fromkeys(sets)} | {"--csv": list(csv)}


def check_set_name(name: str, given: str) -> None:
    """A set's name starts its pseudo-videos' names (``<set>-train-0001``), which the annotation files must be
    able to hold: checked before any still is read, not when the first file is written after extraction."""
    from affectstream.training.annotations import is_video_name

    if not is_video_name(f"{name}-train-0001"):
        raise UserInputError(f"{given}: the set's name {name!r} (the file's name) cannot start a video name in the "
                             "annotation files (a comma, a line break, a slash or surrounding spaces); rename the file")


def load_sets(sets: Sequence[str], csv: Sequence[str | Path], shared: Path, fer2013: Path | None,
              split: GroupSplit, ckplus_au27: str, csv_pad: float) -> list[StillSet]:
    """The chosen shared sets (each once, in the order given), then the CSVs; names must differ."""
    from affectstream.training.stills import sets as readers

    paths = shared_set_paths(shared, fer2013)
    read = {
        "fer2013": lambda: readers.read_fer2013(paths["fer2013"]),
        "ckplus-au": lambda: readers.read_ckplus_au(paths["ckplus-au"], split, ckplus_au27),
        "diffusionfer-va": lambda: readers.read_diffusionfer_va(paths["diffusionfer-va"]),
    }
    for path in csv:
        check_set_name(Path(path).stem, f"--csv {path}")
    loaded = [read[name]() for name in dict.fromkeys(sets)]
    framing = Framing(pad=csv_pad)
    loaded += [readers.read_labelled_csv(path, framing=framing, split=split) for path in csv]
    names = [s.name for s in loaded]
    if not loaded:
        raise UserInputError("no set chosen: give --sets and/or --csv")
    if len(set(names)) != len(names):
        raise UserInputError(f"two sets share a name in {names}; rename a CSV")
    return loaded


def parse_repeats(items: Sequence[str], names: Sequence[str]) -> dict[str, int]:
    """``SET=N`` items (as --repeat takes them) -> times each set's training stills are laid out (1 if not named)."""
    repeats = {name: 1 for name in names}
    for item in items:
        name, eq, count = item.partition("=")
        # isascii: '²' is a digit to str.isdigit() but not to int().
        if not eq or name not in repeats or not (count.isascii() and count.isdigit()) or int(count) < 1:
            raise UserInputError(f"--repeat {item!r}: expected SET=N with N >= 1 and SET one of {', '.join(names)}")
        repeats[name] = int(count)
    return repeats


def check_mirrored(mirror: Sequence[str], names: Sequence[str]) -> None:
    unknown = sorted(set(mirror) - set(names))
    if unknown:
        raise UserInputError(f"--mirror {' '.join(unknown)}: not among the sets imported ({', '.join(names)})")
