"""`synth` as a library call: a synthetic ABAW-format data set written and said where (see training.synthetic)."""

from __future__ import annotations

from dataclasses import dataclass, field

from affectstream.training.synthetic import SyntheticConfig, SyntheticDataset, write_synthetic


@dataclass(frozen=True)
class SynthOptions:
    out: str  # folder to write annotations/ and features/ into
    config: SyntheticConfig = field(default_factory=SyntheticConfig)


def synth(options: SynthOptions) -> SyntheticDataset:
    data = write_synthetic(options.out, options.config)
    print(f"annotations: {data.train_annotations}, {data.val_annotations}")
    print(f"features:    {data.features} (backbones: {' '.join(data.backbones)})")
    return data
