"""The settings dialog: model checkpoint, smoothing, AU threshold offset, provider, camera, faces."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton,
                               QSlider, QSpinBox, QVBoxLayout, QWidget)

from affectstream.app.devices import CameraInfo, CudaStatus
from affectstream.app.settings import MAX_SMOOTHING, MAX_THRESHOLD_OFFSET, AppSettings
from affectstream.app.status import plain_tooltip
from affectstream.core.default_model import ASSET_DIR, DEFAULT_MODEL_FILE

SLIDER_STEPS = 100


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, cameras: Sequence[CameraInfo], cuda: CudaStatus,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("AffectStream settings")
        self._settings = settings

        self.model_edit = QLineEdit(settings.model_path)
        self.model_edit.setPlaceholderText(f"default: {ASSET_DIR / DEFAULT_MODEL_FILE}")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit, 1)
        model_row.addWidget(browse)

        # Live smoothing is causal or none (the words of annotate --smoothing); the slider sets causal's strength.
        self.tuned_smoothing = QCheckBox("causal: the model's own filter (tuned on validation)")
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, int(MAX_SMOOTHING * SLIDER_STEPS))
        self.smoothing_label = QLabel()
        self.smoothing.valueChanged.connect(self._show_smoothing)
        self.tuned_smoothing.toggled.connect(lambda on: self.smoothing.setEnabled(not on))
        tuned = settings.smoothing == "causal" and settings.smoothing_strength is None
        self.tuned_smoothing.setChecked(tuned)
        self.smoothing.setEnabled(not tuned)
        self.smoothing.setValue(int(round((settings.smoothing_strength or 0.0) * SLIDER_STEPS)))
        self._show_smoothing(self.smoothing.value())
        smoothing_row = QHBoxLayout()
        smoothing_row.addWidget(self.smoothing, 1)
        smoothing_row.addWidget(self.smoothing_label)

        self.threshold_offset = QDoubleSpinBox()
        self.threshold_offset.setRange(-MAX_THRESHOLD_OFFSET, MAX_THRESHOLD_OFFSET)
        self.threshold_offset.setSingleStep(0.05)
        self.threshold_offset.setDecimals(2)
        self.threshold_offset.setValue(settings.au_threshold_offset)
        self.threshold_offset.setToolTip("added to every AU's tuned threshold: positive turns AUs on less often")

        self.cpu = QRadioButton("CPU")
        self.cuda = QRadioButton("CUDA")
        group = QButtonGroup(self)
        group.addButton(self.cpu)
        group.addButton(self.cuda)
        self.cuda.setEnabled(cuda.available)
        self.cuda_reason = QLabel(cuda.reason)
        self.cuda_reason.setWordWrap(True)
        self.cuda_reason.setTextFormat(Qt.TextFormat.PlainText)  # onnxruntime's words, shown as they are
        self.cuda_reason.setEnabled(False)  # greyed, like the option it explains
        self.cuda.setToolTip(plain_tooltip(cuda.reason))
        (self.cuda if settings.provider == "cuda" and cuda.available else self.cpu).setChecked(True)
        provider_row = QHBoxLayout()
        provider_row.addWidget(self.cpu)
        provider_row.addWidget(self.cuda)
        provider_row.addWidget(self.cuda_reason, 1)

        self.camera = QComboBox()
        listed = {c.index for c in cameras}
        for camera in cameras:
            self.camera.addItem(camera.label, camera.index)
        if settings.camera_index not in listed:
            self.camera.addItem(f"Camera {settings.camera_index} (not found now)", settings.camera_index)
        self.camera.setCurrentIndex(self.camera.findData(settings.camera_index))

        self.max_faces = QSpinBox()
        self.max_faces.setRange(1, 10)
        self.max_faces.setValue(settings.max_faces)
        self.landmarks = QCheckBox("show face landmarks")
        self.landmarks.setChecked(settings.show_landmarks)

        form = QFormLayout()
        form.addRow("Model checkpoint", model_row)
        form.addRow("Smoothing", self.tuned_smoothing)
        form.addRow("", smoothing_row)
        form.addRow("AU threshold offset", self.threshold_offset)
        form.addRow("Temporal model on", provider_row)
        form.addRow("Camera", self.camera)
        form.addRow("Faces at most", self.max_faces)
        form.addRow("", self.landmarks)
        note = QLabel("The face landmarker always runs on the CPU. Changes restart a running stream.")
        note.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _show_smoothing(self, value: int) -> None:
        strength = value / SLIDER_STEPS
        self.smoothing_label.setText("none (raw)" if value == 0 else f"causal, strength {strength:.2f}")

    def _chosen_smoothing(self) -> dict[str, object]:
        if self.tuned_smoothing.isChecked():
            return dict(smoothing="causal", smoothing_strength=None)
        strength = self.smoothing.value() / SLIDER_STEPS
        return dict(smoothing="causal", smoothing_strength=strength) if strength else \
            dict(smoothing="none", smoothing_strength=None)

    def _browse_model(self) -> None:
        dialog = QFileDialog(self, "Model checkpoint", self.model_edit.text(), "Checkpoints (*.safetensors)")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.model_edit.setText)
        dialog.open()

    def chosen(self) -> AppSettings:
        """The settings as the dialog shows them."""
        return replace(
            self._settings,
            model_path=self.model_edit.text().strip(),
            **self._chosen_smoothing(),
            au_threshold_offset=round(self.threshold_offset.value(), 2),
            provider="cuda" if self.cuda.isChecked() else "cpu",
            camera_index=int(self.camera.currentData()) if self.camera.count() else self._settings.camera_index,
            max_faces=self.max_faces.value(),
            show_landmarks=self.landmarks.isChecked(),
        )
