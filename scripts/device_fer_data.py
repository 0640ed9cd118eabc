"""Carry FER2013 to a lent GPU machine in parts, and bring its training runs back.

A device call carries the working tree (about 45 MiB) plus at most 64 MiB in all,
and ../shared does not travel; fer2013.npz is 79 MB. So it goes in compressed
parts of at most --max-mb each, one part per call while the machine is warm
(files left there by one call stay for the next), and the last call joins them.

  split SRC DIR [--max-mb 15]   here: fer2013.npz -> DIR/part1.npz ... (prints the parts)
  join DIR OUT                  there: the parts -> one fer2013.npz, checked against the
                                original's digest; names the missing parts if any
  unpack FETCHED DEST           here: the files a device call sent back (runs.tar.gz and
                                <run>.safetensors) -> train-fer run folders under DEST
                                (for `train-fer ensemble`, `train-fer export`)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

ARRAYS = ("images", "labels", "usage")  # split along the faces (images first); "classes" goes into every part


def digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in (*ARRAYS, "classes"):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def _compressed(arrays: dict[str, np.ndarray]) -> bytes:
    """One part's bytes: the faces as lzma-packed gradient residuals (about 70% of their size, where zlib
    gets 96%), the rest as they are."""
    faces = arrays["images"]
    # Each pixel minus (left + up - up-left), modulo 256: lossless, and undone by two cumulative sums.
    residual = np.diff(np.diff(faces, axis=2, prepend=np.uint8(0)), axis=1, prepend=np.uint8(0))
    packed = np.frombuffer(lzma.compress(residual.tobytes(), preset=6), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **{k: v for k, v in arrays.items() if k != "images"}, packed=packed,
             shape=np.array(faces.shape))
    return buffer.getvalue()


def _faces(data) -> np.ndarray:
    residual = np.frombuffer(lzma.decompress(data["packed"].tobytes()), dtype=np.uint8).reshape(data["shape"])
    return np.cumsum(np.cumsum(residual, axis=1, dtype=np.uint8), axis=2, dtype=np.uint8)


def split(src: Path, out_dir: Path, max_mb: float) -> list[Path]:
    with np.load(src, allow_pickle=False) as data:
        arrays = {name: data[name] for name in (*ARRAYS, "classes")}
    n, whole = len(arrays["labels"]), digest(arrays)
    # Size one part from a sample's compression ratio, then shrink a part until it fits.
    sample = _compressed({k: arrays[k][:2000] for k in ARRAYS})
    per_face = len(sample) / min(n, 2000)
    limit = max_mb * 1024 * 1024
    step = max(1, int(0.95 * limit / per_face))
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("part*.npz"):
        old.unlink()
    parts, start = [], 0
    while start < n:
        stop = min(n, start + step)
        while True:
            blob = _compressed({**{k: arrays[k][start:stop] for k in ARRAYS}, "classes": arrays["classes"],
                                "start": np.array(start), "total": np.array(n), "digest": np.array(whole)})
            if len(blob) <= limit or stop - start == 1:
                break
            stop = start + int((stop - start) * 0.9)
        path = out_dir / f"part{len(parts) + 1}.npz"
        path.write_bytes(blob)
        parts.append(path)
        start = stop
    (out_dir / "parts.json").write_text(json.dumps({"parts": len(parts), "total": n, "digest": whole}) + "\n")
    return parts


def join(parts_dir: Path, out: Path) -> Path:
    try:
        index = json.loads((parts_dir / "parts.json").read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{parts_dir / 'parts.json'}: cannot read it ({exc}); carry it with every part (a machine "
                         "that went back starts bare, and then every part must be carried again)") from None
    expected = [parts_dir / f"part{k}.npz" for k in range(1, index["parts"] + 1)]
    missing = [p.name for p in expected if not p.is_file()]
    if missing:
        raise SystemExit(f"{parts_dir}: missing {', '.join(missing)} of {index['parts']} parts; carry them in "
                         "device calls while the machine is warm, then join again")
    pieces: dict[str, list[np.ndarray]] = {k: [] for k in ARRAYS}
    stale, classes = [], None
    for path in expected:
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["digest"]) != index["digest"]:
                    stale.append(path.name)  # from another split: its faces would not fit this one
                    continue
                classes = data["classes"]
                pieces["images"].append(_faces(data))
                for k in ARRAYS[1:]:
                    pieces[k].append(data[k])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
            raise SystemExit(f"{path}: damaged ({exc}); carry it again") from None
    if stale:
        raise SystemExit(f"{parts_dir}: {', '.join(stale)} come from another split than parts.json; carry them again")
    arrays = {k: np.concatenate(v) for k, v in pieces.items()} | {"classes": classes}
    if digest(arrays) != index["digest"]:
        raise SystemExit(f"{parts_dir}: the joined parts differ from the original; split again here and carry them all")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(out)
    return out


def unpack(fetched: Path, dest: Path) -> list[Path]:
    """runs.tar.gz holds each run's history, config, curves and log; <run>.safetensors its best weights."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = fetched / "runs.tar.gz"
    if archive.is_file():
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    else:
        print(f"{archive}: not there; the weights alone are unpacked (without history and config, "
              "train-fer ensemble cannot use them)", file=sys.stderr)
    runs = []
    for weights in sorted(fetched.glob("*.safetensors")):
        run = dest / weights.stem
        run.mkdir(exist_ok=True)
        shutil.copyfile(weights, run / "best.safetensors")
        runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("split")
    p.add_argument("src", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--max-mb", type=float, default=15.0)
    p = sub.add_parser("join")
    p.add_argument("parts_dir", type=Path)
    p.add_argument("out", type=Path)
    p = sub.add_parser("unpack")
    p.add_argument("fetched", type=Path)
    p.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    if args.verb == "split":
        for path in split(args.src, args.out_dir, args.max_mb):
            print(f"{path} {path.stat().st_size / 1048576:.1f} MiB")
    elif args.verb == "join":
        print(f"wrote {join(args.parts_dir, args.out)}")
    else:
        for run in unpack(args.fetched, args.dest):
            print(f"run {run}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
