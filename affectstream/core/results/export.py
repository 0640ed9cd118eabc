"""`export` as a library call: an ``annotate`` results CSV written for another tool (ELAN, or OpenFace readers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from affectstream.core.errors import UserInputError
from affectstream.core.results.elan import ElanOptions

FORMATS = {"elan": ".eaf", "openface": ".openface.csv"}


@dataclass(frozen=True)
class ExportOptions:
    results: str  # an annotate CSV
    format: str  # "elan" or "openface"
    out: str | None = None  # default: beside the CSV, <stem>.eaf / <stem>.openface.csv
    video: str | None = None  # the video the .eaf links (elan only; required there)
    elan: ElanOptions = field(default_factory=ElanOptions)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise UserInputError(f"unknown format {self.format!r}; choose from {', '.join(FORMATS)}")
        if self.format == "elan" and not self.video:
            raise UserInputError("an ELAN document links its video: give --video")

    @property
    def target(self) -> Path:
        if self.out:
            return Path(self.out)
        source = Path(self.results)
        return source.with_name(source.stem + FORMATS[self.format])


def export_results(options: ExportOptions) -> Path:
    """Read and check the CSV, write the export atomically; the path written."""
    from affectstream.core.atomic import require_writable_file, write_text_atomic
    from affectstream.core.results.csv_read import read_results_table

    target = options.target
    require_writable_file(target)
    if target.resolve() == Path(options.results).resolve():
        raise UserInputError(f"--out {target} is the results CSV itself; choose another file")
    if options.video and not Path(options.video).is_file():
        raise UserInputError(f"--video {options.video}: no such file")
    table = read_results_table(Path(options.results))
    if options.format == "openface":
        from affectstream.core.results.openface import openface_text

        write_text_atomic(target, openface_text(table))
    else:
        from affectstream.core.results.elan import elan_document, write_eaf

        write_eaf(elan_document(table, Path(options.video), target, options.elan), target)
    return target
