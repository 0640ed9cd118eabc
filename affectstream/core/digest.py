"""The SHA-256 of a file, read in blocks: what identifies a model, a landmarker or a run's data; and a
cheap fingerprint of a long input file."""

from __future__ import annotations

import hashlib
import os


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(path: str | os.PathLike, sample: int = 1 << 20) -> str:
    """16 hex digits of a file's size, first and last ``sample`` bytes: cheap to take of a long video, and
    it tells another file at the same name (or the same name's file replaced) from the one seen before."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        digest.update(str(size).encode() + b"\0" + handle.read(sample))
        if size > sample:
            handle.seek(max(sample, size - sample))
            digest.update(handle.read(sample))
    return digest.hexdigest()[:16]
