"""The carrier of FER2013 to a lent GPU machine (scripts/device_fer_data.py), run here on synthetic faces, so
that a broken script is found before a device call is spent on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from affectstream.core.features.expression_cnn import FER_CLASSES

ROOT = Path(__file__).resolve().parents[1]
CARRIER = ROOT / "scripts" / "device_fer_data.py"


def _fake_fer2013(path: Path, per_split: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Learnable synthetic faces (the class is a bright bar's height) in fer2013.npz's layout."""
    rng = np.random.default_rng(seed)
    usage = np.concatenate([np.full(n, name) for name, n in per_split.items()])
    labels = rng.integers(0, 7, len(usage)).astype(np.int8)
    images = rng.integers(0, 60, (len(usage), 48, 48)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 8 + 4 * c : 14 + 4 * c, 10:38] = 230
    arrays = {"images": images, "labels": labels, "usage": usage, "classes": np.array(FER_CLASSES)}
    np.savez(path, **arrays)
    return arrays


def _carrier(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CARRIER), *args], capture_output=True, text=True, timeout=300)


def test_fer2013_travels_in_parts_and_joins_exactly(tmp_path):
    original = _fake_fer2013(tmp_path / "fer.npz", {"Training": 900, "PublicTest": 150, "PrivateTest": 150})
    split = _carrier("split", str(tmp_path / "fer.npz"), str(tmp_path / "parts"), "--max-mb", "0.5")
    assert split.returncode == 0, split.stderr
    parts = sorted((tmp_path / "parts").glob("part*.npz"))
    assert len(parts) >= 3 and all(p.stat().st_size <= 0.5 * 1024 * 1024 for p in parts)
    joined = _carrier("join", str(tmp_path / "parts"), str(tmp_path / "joined.npz"))
    assert joined.returncode == 0, joined.stderr
    with np.load(tmp_path / "joined.npz") as data:
        for key, value in original.items():
            np.testing.assert_array_equal(data[key], value)
    # A part from another split is named; so is a part that did not arrive, and a missing index.
    _fake_fer2013(tmp_path / "other.npz", {"Training": 900, "PublicTest": 150, "PrivateTest": 150}, seed=1)
    assert _carrier("split", str(tmp_path / "other.npz"), str(tmp_path / "other"), "--max-mb", "0.5").returncode == 0
    parts[2].write_bytes((tmp_path / "other" / "part3.npz").read_bytes())
    stale = _carrier("join", str(tmp_path / "parts"), str(tmp_path / "again.npz"))
    assert stale.returncode != 0 and "part3.npz come from another split" in stale.stderr
    parts[1].unlink()
    missing = _carrier("join", str(tmp_path / "parts"), str(tmp_path / "again.npz"))
    assert missing.returncode != 0 and "missing part2.npz" in missing.stderr
    (tmp_path / "parts" / "parts.json").unlink()
    bare = _carrier("join", str(tmp_path / "parts"), str(tmp_path / "again.npz"))
    assert bare.returncode != 0 and "parts.json" in bare.stderr and "Traceback" not in bare.stderr
    assert not (tmp_path / "again.npz").exists()


def _gpu_script(tmp_path: Path, members: str, out: Path) -> subprocess.CompletedProcess:
    """scripts/gpu_backbone.sh on the CPU with tiny networks, on the parts in tmp_path/parts."""
    env = os.environ | {
        "DATA_PARTS": str(tmp_path / "parts"), "OUT": str(out), "WORK": str(tmp_path / "work"), "DEVICE": "cpu",
        "PY": sys.executable, "MEMBERS": members, "BASE": "8,8,16,16", "WIDE": "8,12,16,24",
        "EPOCHS": "2", "BATCH": "32", "LR": "0.05", "EXTRA": "--no-bf16 --threads 1",
    }
    return subprocess.run(["bash", str(ROOT / "scripts" / "gpu_backbone.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
