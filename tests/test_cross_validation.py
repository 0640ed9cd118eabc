"""Cross-validated AU data and thresholds: import-stills --cv-folds, then cv-thresholds on the folds' models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from affectstream.cli.main import main
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS, au_any_labelled
from affectstream.training.metrics import au_f1, au_firing_rate, tune_au_thresholds
from affectstream.core.temporal.checkpoint import load_checkpoint
from affectstream.core.temporal.inference import predict_sequence
from affectstream.training.annotations import read_annotations, write_annotations
from affectstream.training.dataset import load_split
from affectstream.core.features.store import FeatureStore
from affectstream.training.synthetic import BACKBONES
from tests.media import shared_file


def _ckplus_subset(tmp_path, subjects: int = 12):
    """The first ``subjects`` CK+ subjects of ../shared, as a set folder of its own."""
    import pandas as pd

    source = shared_file("ckplus-au")
    table = pd.read_csv(source / "labels.csv")
    keep = table[table["subject"].isin(sorted(table["subject"].unique())[:subjects])]
    folder = tmp_path / "shared" / "ckplus-au"
    folder.mkdir(parents=True)
    keep.assign(file=[str(source / f) for f in keep["file"]]).to_csv(folder / "labels.csv", index=False)
    return tmp_path / "shared", keep


def _au_csv(tmp_path, table):
    """A CSV set with AU labels and its own split column (no subject column): never cross-validated."""
    rows = table.groupby("subject").head(1).head(6)
    header = "file,valence,arousal,expression,AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26,split"
    source = shared_file("ckplus-au")
    lines = [header] + [f"{source / r.file},,,," + ",".join(str(int(getattr(r, au))) for au in header.split(",")[4:-1])
                        + f",{split}" for r, split in zip(rows.itertuples(), ["train", "train", "val", "val",
                                                                               "test", "test"])]
    path = tmp_path / "mine.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cv_import_puts_each_subject_in_one_fold_and_leaves_test_as_it_was(tmp_path, capsys):
    shared, table = _ckplus_subset(tmp_path)
    mine = _au_csv(tmp_path, table)
    common = ["import-stills", "--sets", "ckplus-au", "--csv", str(mine), "--shared", str(shared),
              "--extractors", "blendshapes", "--cache", str(tmp_path / "cache"), "--workers", "1", "--no-progress",
              "--hold", "3", "5", "--fade", "1", "2", "--frames-per-video", "60"]
    cv = tmp_path / "cv"
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    # An earlier plain import into the same folder: its validation files must not survive the CV import.
    assert main([*common, "--out", str(cv)]) == 0
    assert (cv / "by_set" / "ckplus-au_val.txt").is_file()
    assert main([*common, "--out", str(cv), "--cv-folds", "3"]) == 0
    printed = capsys.readouterr().out
    assert "no validation stills outside the folds" not in printed  # the CSV's validation stills are there
    assert not (cv / "by_set" / "ckplus-au_val.txt").exists()
    summary = json.loads((cv / "summary.json").read_text())
    info, csv_info = summary["sets"]
    assert "cross_validation" not in csv_info
    split = info["split_rule"]["subjects"]
    folds = info["cross_validation"]["subjects"]
    # The folds divide exactly the train+val subjects, none in two folds; test subjects are in none.
    pooled = sorted(split["train"] + split["val"])
    assert sorted(sum(folds.values(), [])) == pooled and all(folds.values())
    assert not set(sum(folds.values(), [])) & set(split["test"])
    stills_of = lambda names: int(table["subject"].isin(names).sum())  # noqa: E731
    csv_val = read_annotations(cv / "by_set" / "mine_val.txt")
    for k, names in folds.items():
        assert info["splits"][f"fold{k}-val"]["stills"] == stills_of(names)
        assert info["splits"][f"fold{k}-train"]["stills"] == stills_of(pooled) - stills_of(names)
        fold_dir = cv / "folds" / k
        assert json.loads((fold_dir / "summary.json").read_text())["fold"] == int(k)
        val, train = (read_annotations(fold_dir / f) for f in ("validation_set_annotations.txt",
                                                                 "training_set_annotations.txt"))
        # The CSV's validation videos are in every fold's validation file; CK+ only fold k's.
        assert set(csv_val) <= set(val)
        assert {n for n in val if n.startswith("ckplus-au")} == {n for n in val if n.startswith(f"ckplus-au-fold{k}-val")} != set()
        assert all(n.startswith(f"ckplus-au-fold{k}-train") for n in train if n.startswith("ckplus-au"))
        assert sorted(p.name for p in (fold_dir / "by_set").iterdir()) == ["ckplus-au_train.txt", "ckplus-au_val.txt"]
    # The final model's training file holds all train+val subjects; test is the plain import's, byte for byte.
    assert info["splits"]["train"]["stills"] == stills_of(pooled)
    assert (cv / "test_set_annotations.txt").read_bytes() == (tmp_path / "plain" / "test_set_annotations.txt").read_bytes()
    # Imported again with fewer folds: the third fold's folder goes (it would be taken for one of this import's).
    assert main([*common, "--out", str(cv), "--cv-folds", "2"]) == 0
    assert sorted(p.name for p in (cv / "folds").iterdir()) == ["1", "2"]
    capsys.readouterr()
    # Bad requests stop before anything is written, naming what is wrong.
    for extra, message in ((["--cv-folds", "1"], "--cv-folds 1"),
                           (["--cv-folds", "40"], "ckplus-au: its train and val subjects"),
                           (["--sets", "--cv-folds", "3"], "none of mine is split by subject")):
        assert main([*common, "--out", str(tmp_path / "x"), *extra]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def _train(data, train_file, val_file, out, seed):
    args = ["train", "--train", str(train_file), "--val", str(val_file), "--features", str(data.features),
            "--backbones", *BACKBONES, "--out", str(out), "--encoder", "gru", "--hidden", "8", "--seq-len", "32",
            "--batch-size", "2", "--epochs", "1", "--lr", "3e-3", "--seed", str(seed), "--threads", "1",
            "--no-progress"]
    assert main(args) == 0
    return str(out / "best.safetensors")


def _fold_layout(tiny_data, cv, names, record):
    """What import-stills --cv-folds writes, by hand, over the tiny set: each fold's validation file holds both
    validation videos (as a set that is not cross-validated would), its own by_set file only its own video."""
    sets = [{"name": "tiny", "description": "", "terms": "", "real_labels": ["action units"], "split_rule": {},
             "repeats_in_train": 1, "cross_validation": record}]
    summary = {"sets": sets, "labels_note": "tiny"}
    cv.mkdir()
    (cv / "summary.json").write_text(json.dumps(summary))
    shutil.copy(tiny_data.train_annotations, cv / "training_set_annotations.txt")
    shutil.copy(tiny_data.val_annotations, cv / "validation_set_annotations.txt")
    val_videos = read_annotations(tiny_data.val_annotations)
    for k, name in enumerate(names, start=1):
        fold = cv / "folds" / str(k)
        (fold / "by_set").mkdir(parents=True)
        (fold / "summary.json").write_text(json.dumps(summary | {"fold": k}))
        shutil.copy(tiny_data.train_annotations, fold / "training_set_annotations.txt")
        shutil.copy(tiny_data.val_annotations, fold / "validation_set_annotations.txt")
        write_annotations(fold / "by_set" / "tiny_val.txt", {name: val_videos[name]})
    (cv / "features").symlink_to(tiny_data.features)


def _fold_and_final_models(tiny_data, cv, tmp_path):
    """A model per fold (trained on folds/<k>/) and the final one (trained on every fold)."""
    models = [_train(tiny_data, cv / "folds" / str(k) / "training_set_annotations.txt",
                     cv / "folds" / str(k) / "validation_set_annotations.txt", tmp_path / f"f{k}", seed=k)
              for k in (1, 2)]
    final = _train(tiny_data, cv / "training_set_annotations.txt", cv / "validation_set_annotations.txt",
                   tmp_path / "final", seed=9)
    return models, final


def _out_of_fold_by_hand(cv, models, store):
    """Fold k's model on fold k's own validation video, for every k."""
    probs, truth = [], []
    for k, model in enumerate(models, start=1):
        loaded = load_checkpoint(model)
        (seq,), _ = load_split(cv / "folds" / str(k) / "by_set" / "tiny_val.txt", store, loaded.meta.feature_names)
        out = predict_sequence(loaded.model, seq.features, loaded.meta.seq_len, loaded.meta.carry_state)
        keep = au_any_labelled(seq.au)
        probs.append(out.au_probs[keep])
        truth.append(seq.au[keep])
    return probs, truth


def test_cv_thresholds_are_tuned_on_each_fold_models_own_unseen_frames(tiny_data, tmp_path, capsys):
    torch.set_num_threads(1)
    store = FeatureStore(tiny_data.features)
    names = sorted(read_annotations(tiny_data.val_annotations))
    assert len(names) == 2
    record = {"folds": 2, "seed": 0, "rule": "by hand", "subjects": {"1": [names[0]], "2": [names[1]]}}
    cv = tmp_path / "cv"
    _fold_layout(tiny_data, cv, names, record)
    models, final = _fold_and_final_models(tiny_data, cv, tmp_path)
    capsys.readouterr()

    # What the thresholds must be: fold k's model on fold k's own video only, pooled.
    probs, truth = _out_of_fold_by_hand(cv, models, store)
    want = tune_au_thresholds(np.concatenate(probs), np.concatenate(truth))
    # Neither fold alone nor every fold model on the whole validation file gives these: what is pooled matters.
    assert not np.array_equal(want, tune_au_thresholds(probs[0], truth[0]))
    whole = []
    for model in models:
        loaded = load_checkpoint(model)
        for seq in load_split(tiny_data.val_annotations, store, loaded.meta.feature_names)[0]:
            out = predict_sequence(loaded.model, seq.features, loaded.meta.seq_len, loaded.meta.carry_state)
            whole.append((out.au_probs[au_any_labelled(seq.au)], seq.au[au_any_labelled(seq.au)]))
    assert not np.array_equal(want, tune_au_thresholds(*map(np.concatenate, zip(*whole))))

    # This import has no expression-labelled set: a neutral cap asked for is refused, the default one skipped.
    assert main(["cv-thresholds", final, "--folds", *models, "--data", str(cv), "--neutral-cap", "0.2"]) == 2
    assert "no validation frame labelled Neutral" in capsys.readouterr().err
    from affectstream.training.thresholds_run import CvThresholdsOptions, cv_thresholds

    done = cv_thresholds(CvThresholdsOptions(final, tuple(models), str(cv)))
    printed = capsys.readouterr().out
    assert "fold 1:" in printed and "fold 2:" in printed and "pooled:" in printed
    assert "tuned without the neutral cap" in printed
    assert done.model == Path(final) and done.out_of_fold.neutral_cap is None
    np.testing.assert_allclose(done.out_of_fold.thresholds, want)
    meta = load_checkpoint(final).meta
    np.testing.assert_allclose(meta.au_thresholds, want, atol=1e-6)  # the checkpoint stores them as float32
    oof = meta.provenance["au_cross_validation"]
    f1 = au_f1(np.concatenate(probs) >= want, np.concatenate(truth))
    assert oof["au_f1_mean"] == pytest.approx(float(np.nanmean(f1)))
    assert oof["frames"] == sum(len(t) for t in truth) and oof["cross_validation"] == {"tiny": record}
    shown = meta.provenance["val_metrics_raw"]
    ccc = (shown["ccc_valence"] + shown["ccc_arousal"]) / 2
    assert shown["p_mtl"] == pytest.approx(ccc + shown["expr_f1"] + oof["au_f1_mean"])
    assert "out-of-fold" in shown["au_from"] and shown["counts"]["au"] == oof["frames"]

    # Fold models in the wrong order would score subjects they were trained on: refused, the model untouched.
    before = (tmp_path / "final" / "best.safetensors").read_bytes()
    assert main(["cv-thresholds", final, "--folds", models[1], models[0], "--data", str(cv)]) == 2
    assert "was not trained on fold 1 of these folds" in capsys.readouterr().err
    assert main(["cv-thresholds", models[0], "--folds", *models, "--data", str(cv)]) == 2
    assert "not trained on the top level" in capsys.readouterr().err
    # So would the models of an earlier import whose folds were drawn otherwise.
    summary = json.loads((cv / "summary.json").read_text())
    summary["sets"][0]["cross_validation"] = record | {"seed": 1}
    (cv / "summary.json").write_text(json.dumps(summary))
    assert main(["cv-thresholds", final, "--folds", *models, "--data", str(cv)]) == 2
    assert "these folds" in capsys.readouterr().err
    assert (tmp_path / "final" / "best.safetensors").read_bytes() == before
    assert main(["cv-thresholds", final, "--folds", models[0], "--data", str(cv)]) == 2
    assert "2 folds but 1 fold model" in capsys.readouterr().err


def test_cv_thresholds_keep_aus_quiet_on_the_final_models_neutral_validation_frames(tiny_data, tmp_path, capsys):
    torch.set_num_threads(1)
    store = FeatureStore(tiny_data.features)
    names = sorted(read_annotations(tiny_data.val_annotations))
    record = {"folds": 2, "seed": 0, "rule": "by hand", "subjects": {"1": [names[0]], "2": [names[1]]}}
    cv = tmp_path / "cv"
    _fold_layout(tiny_data, cv, names, record)
    # The set also has expression labels, and its validation split (both videos) sits where import-stills puts it.
    summary = json.loads((cv / "summary.json").read_text())
    summary["sets"][0]["real_labels"] = ["action units", "expression"]
    # A second expression-labelled set whose validation split has no frame labelled Neutral: counted as 0.
    summary["sets"].append({"name": "calm", "description": "", "terms": "", "real_labels": ["expression"],
                            "split_rule": {}, "repeats_in_train": 1})
    (cv / "summary.json").write_text(json.dumps(summary))
    (cv / "by_set").mkdir()
    shutil.copy(tiny_data.val_annotations, cv / "by_set" / "tiny_val.txt")
    val_videos = read_annotations(tiny_data.val_annotations)
    calm = {name: v for name, v in val_videos.items() if not np.any(v.expr == EXPRESSIONS.index("Neutral"))}
    assert calm
    write_annotations(cv / "by_set" / "calm_val.txt", calm)
    models, final = _fold_and_final_models(tiny_data, cv, tmp_path)
    capsys.readouterr()

    probs, truth = map(np.concatenate, _out_of_fold_by_hand(cv, models, store))
    # The quiet frames: the final model (not a fold model) on the validation frames labelled Neutral.
    loaded = load_checkpoint(final)
    quiet = []
    for seq in load_split(cv / "by_set" / "tiny_val.txt", store, loaded.meta.feature_names)[0]:
        out = predict_sequence(loaded.model, seq.features, loaded.meta.seq_len, loaded.meta.carry_state)
        quiet.append(out.au_probs[seq.expr == EXPRESSIONS.index("Neutral")])
    quiet = np.concatenate(quiet)
    assert len(quiet) > 20
    uncapped = tune_au_thresholds(probs, truth)
    want = tune_au_thresholds(probs, truth, quiet=[quiet], max_quiet_rate=0.05)
    assert not np.array_equal(want, uncapped)  # the cap binds here, so the test can tell

    assert main(["cv-thresholds", final, "--folds", *models, "--data", str(cv), "--neutral-cap", "0.05",
                 "--out", str(tmp_path / "capped.safetensors")]) == 0
    printed = capsys.readouterr().out
    assert "on when neutral, tiny" in printed and f"tiny {len(quiet)}" in printed
    assert "calm: no validation frame labelled Neutral" in printed and "on when neutral, calm" not in printed
    meta = load_checkpoint(tmp_path / "capped.safetensors").meta
    np.testing.assert_allclose(meta.au_thresholds, want, atol=1e-6)
    oof = meta.provenance["au_cross_validation"]
    assert oof["neutral_cap"] == 0.05 and oof["neutral_frames"] == {"tiny": len(quiet), "calm": 0}
    assert [oof["thresholds_uncapped"][a] for a in ACTION_UNITS] == pytest.approx(uncapped)
    assert "at most 0.05" in oof["rule"]
    firing = au_firing_rate(quiet, want)
    assert [oof["neutral_firing"]["tiny"][a] for a in ACTION_UNITS] == pytest.approx(firing)
    assert oof["au_f1_mean"] == pytest.approx(float(np.nanmean(au_f1(probs >= want, truth))))
    assert oof["au_f1_mean_uncapped"] == pytest.approx(float(np.nanmean(au_f1(probs >= uncapped, truth))))

    # The default cap is 0.2; 1 turns it off; a rate outside 0..1 is refused by name.
    assert main(["cv-thresholds", final, "--folds", *models, "--data", str(cv),
                 "--out", str(tmp_path / "default.safetensors")]) == 0
    default = load_checkpoint(tmp_path / "default.safetensors").meta
    assert default.provenance["au_cross_validation"]["neutral_cap"] == 0.2
    np.testing.assert_allclose(default.au_thresholds,
                               tune_au_thresholds(probs, truth, quiet=[quiet], max_quiet_rate=0.2), atol=1e-6)
    assert main(["cv-thresholds", final, "--folds", *models, "--data", str(cv), "--neutral-cap", "1",
                 "--out", str(tmp_path / "off.safetensors")]) == 0
    off = load_checkpoint(tmp_path / "off.safetensors").meta
    np.testing.assert_allclose(off.au_thresholds, uncapped, atol=1e-6)
    assert "neutral_cap" not in off.provenance["au_cross_validation"]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["cv-thresholds", final, "--folds", *models, "--data", str(cv), "--neutral-cap", "2"])
    assert "a fraction from 0 to 1, got '2'" in capsys.readouterr().err


def test_import_with_the_au27_rule_unlabels_au26_only_on_mouth_stretch_stills(tmp_path):
    shared, table = _ckplus_subset(tmp_path, subjects=8)
    assert (table["AU27"] == 1).any()
    common = ["import-stills", "--sets", "ckplus-au", "--shared", str(shared), "--extractors", "blendshapes",
              "--cache", str(tmp_path / "cache"), "--workers", "1", "--no-progress", "--hold", "3", "5",
              "--fade", "1", "2", "--frames-per-video", "60"]
    assert main([*common, "--out", str(tmp_path / "given")]) == 0
    assert main([*common, "--out", str(tmp_path / "rule"), "--ckplus-au27", "au26-missing"]) == 0
    au26 = ACTION_UNITS.index("AU26")
    others = np.arange(len(ACTION_UNITS)) != au26
    unlabelled = 0
    for split in ("training_set_annotations.txt", "test_set_annotations.txt"):
        given, rule = (read_annotations(tmp_path / out / split) for out in ("given", "rule"))
        assert list(given) == list(rule)  # the same videos: the split and layout do not depend on the rule
        for name in given:
            a, b = given[name].au, rule[name].au
            assert np.array_equal(a[:, others], b[:, others])
            changed = a[:, au26] != b[:, au26]
            # Only CK+'s 0 becomes missing, never a positive, and only there.
            assert np.all(a[changed, au26] == 0) and np.all(b[changed, au26] == -1)
            unlabelled += int(changed.sum())
    assert unlabelled > 0
    summary = json.loads((tmp_path / "rule" / "summary.json").read_text())
    assert summary["sets"][0]["label_rules"]["au27"] == "au26-missing"
