"""One face track through the temporal model, frame by frame, as the model was trained.

* GRU/LSTM: one step per frame with the hidden state carried. Training carried it
  from one 250-frame segment to the next, so frame-by-frame steps give exactly
  the offline outputs (affectstream.core.temporal.inference.predict_sequence). A model trained without
  carry (the ablation) has its state zeroed every ``seq_len`` frames here too.
* Transformer: each new frame re-reads a sliding window of at most the last
  ``seq_len`` frames and takes the output at its last position.
* Frame-wise MLP: the frame alone.

Only frames where the track has features are stepped: as in training, where
frames without a face are dropped from a video's sequence.

``step_tracks`` steps several tracks by one frame each in one runtime call (the
faces of one video frame): recurrent and frame-wise models batch exactly, a
transformer's windows differ in length per track, so those are stepped one by one.
"""

from __future__ import annotations


import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.temporal.predictions import Predictions
from affectstream.core.temporal.runtime import TemporalRuntime


class StreamingTrack:
    def __init__(self, runtime: TemporalRuntime, seq_len: int, carry_state: bool = True,
                 frame_wise: bool = False) -> None:
        if seq_len < 1:
            raise UserInputError(f"seq_len must be at least 1, got {seq_len}")
        self.runtime = runtime
        self.seq_len = int(seq_len)
        self.carry_state = carry_state
        # A frame-wise model needs no context; a transformer needs a window of seq_len.
        self.window = 1 if frame_wise or runtime.is_recurrent else self.seq_len
        self.frames = 0  # frames stepped so far
        self._state = runtime.init_state()
        self._buffer: np.ndarray | None = None  # (window, D) ring of recent frames, transformer only

    @property
    def state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._state.items()}

    @property
    def batches(self) -> bool:
        """Whether a step needs only this frame and the carried state (so tracks can share a call)."""
        return self.runtime.is_recurrent or self.window == 1

    def _state_for_step(self) -> dict[str, np.ndarray]:
        if self.runtime.is_recurrent and not self.carry_state and self.frames % self.seq_len == 0:
            self._state = self.runtime.init_state()
        return self._state

    def step(self, features: np.ndarray) -> Predictions:
        x = np.asarray(features, dtype=np.float32).reshape(1, -1)
        if self.runtime.is_recurrent:
            out = self.runtime.run(x, self._state_for_step())
            self._state = out.state
        else:
            out = self.runtime.run(self._window(x), {})
        self.frames += 1
        return Predictions(out.va[-1].copy(), out.expr_probs[-1].copy(), out.au_probs[-1].copy())

    def _window(self, x: np.ndarray) -> np.ndarray:
        if self.window == 1:
            return x
        if self._buffer is None:
            self._buffer = np.zeros((self.window, x.shape[1]), dtype=np.float32)
        # Oldest frames first, as the model saw them in training; the ring is unrolled per call.
        self._buffer[self.frames % self.window] = x[0]
        count = min(self.frames + 1, self.window)
        if count < self.window:
            return self._buffer[:count]
        start = (self.frames + 1) % self.window
        return np.concatenate([self._buffer[start:], self._buffer[:start]])


def step_tracks(tracks: list[StreamingTrack], features: list[np.ndarray]) -> list[Predictions]:
    """Each track stepped by its frame's features; one runtime call when every track batches."""
    if len(tracks) < 2 or not all(t.batches for t in tracks) or len({id(t.runtime) for t in tracks}) != 1:
        return [track.step(f) for track, f in zip(tracks, features)]
    runtime = tracks[0].runtime
    x = np.stack([np.asarray(f, dtype=np.float32).reshape(-1) for f in features])[:, None, :]
    states = [t._state_for_step() for t in tracks]
    stacked = {k: np.concatenate([s[k] for s in states], axis=1) for k in runtime.state_keys}
    out = runtime.run_batch(x, stacked)
    results = []
    for i, track in enumerate(tracks):
        if runtime.is_recurrent:
            track._state = {k: np.ascontiguousarray(v[:, i:i + 1]) for k, v in out.state.items()}
        track.frames += 1
        results.append(Predictions(out.va[i, -1].copy(), out.expr_probs[i, -1].copy(), out.au_probs[i, -1].copy()))
    return results
