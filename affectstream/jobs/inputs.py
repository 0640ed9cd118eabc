"""The sources a batch command's inputs name (`extract`, `annotate`)."""

from __future__ import annotations

from typing import Sequence

from affectstream.core.sources.readers import SourceSpec, folder_kind, list_inputs


def listed_sources(inputs: Sequence[str], whole_frames: bool) -> list[SourceSpec]:
    """The sources the inputs name, after printing what each folder is read as: nothing in it is skipped
    without a word."""
    listing = list_inputs(inputs, folders=folder_kind(whole_frames))
    for note in listing.notes:
        print(note)
    return list(listing.sources)
