"""The app spells smoothing as the API and annotate do (causal or none), and its settings file keeps the
values it always held under its one ``smoothing`` key."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from affectstream.app.devices import CudaStatus  # noqa: E402
from affectstream.app.settings import (AppSettings, engine_options, load_settings, open_store,  # noqa: E402
                                       read_settings, save_settings)

CASES = [  # (the file's value, the settings it stands for)
    ("model", AppSettings(smoothing="causal", smoothing_strength=None)),
    ("0", AppSettings(smoothing="none")),
    ("0.5", AppSettings(smoothing="causal", smoothing_strength=0.5)),
]


@pytest.mark.parametrize("stored, settings", CASES)
def test_the_file_keeps_its_smoothing_values_mapped_to_the_one_spelling(tmp_path, stored, settings):
    path = tmp_path / "s.ini"
    path.write_text(f"[General]\nsmoothing={stored}\n")
    assert read_settings(open_store(path)) == (settings, [])
    save_settings(open_store(path), settings)
    store = open_store(path)
    assert str(store.value("smoothing")) in (stored, stored + ".0")  # the same value written back
    assert not store.contains("smoothing_strength")  # no new key in the file
    assert load_settings(store) == settings


def test_the_words_causal_and_none_read_too_and_centred_is_not_live(tmp_path):
    path = tmp_path / "s.ini"
    for word, settings in (("causal", AppSettings()), ("none", AppSettings(smoothing="none"))):
        path.write_text(f"[General]\nsmoothing={word}\n")
        assert read_settings(open_store(path)) == (settings, [])
    path.write_text("[General]\nsmoothing=centred\n")
    settings, warnings = read_settings(open_store(path))
    assert settings == AppSettings() and "smoothing=centred is not a number" in warnings[0]
    assert "(or model, or none)" in warnings[0] and warnings[0].endswith("using the default model")
    assert AppSettings(smoothing="centred").smoothing == "causal"  # built by a script: the default, not raw


def test_one_spelling_of_each_choice_reaches_the_engine():
    assert AppSettings(smoothing_strength=0.0) == AppSettings(smoothing="none")  # strength 0 is raw values
    assert AppSettings(smoothing="none", smoothing_strength=0.4).smoothing_strength is None
    assert engine_options(AppSettings(smoothing="none")).post.smoothing == "none"
    tuned = engine_options(AppSettings(smoothing_strength=0.25)).post
    assert tuned.smoothing == "causal" and tuned.va_filter == {"kind": "ema", "alpha": 0.75}


def test_the_dialog_says_causal_or_none_and_gives_the_settings_it_shows(qtbot):
    from affectstream.app.settings_dialog import SLIDER_STEPS, SettingsDialog

    dialog = SettingsDialog(AppSettings(smoothing_strength=0.4), [], CudaStatus(False, "test"))
    qtbot.addWidget(dialog)
    assert not dialog.tuned_smoothing.isChecked() and dialog.smoothing_label.text() == "causal, strength 0.40"
    assert dialog.chosen().smoothing == "causal" and dialog.chosen().smoothing_strength == pytest.approx(0.4)
    dialog.smoothing.setValue(0)
    assert dialog.smoothing_label.text() == "none (raw)" and dialog.chosen() == AppSettings(smoothing="none")
    dialog.smoothing.setValue(SLIDER_STEPS // 2)
    dialog.tuned_smoothing.setChecked(True)
    assert "causal" in dialog.tuned_smoothing.text() and dialog.chosen() == AppSettings()
