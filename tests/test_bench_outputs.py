"""Benchmarks: --out replaces only the bench's own earlier output; verdicts judged only on what was measured
(group runs that found their faces, enough results, a memory trend long enough); the annotate bench's cache
of looped videos keyed on the source's content and its CSV comparison null where there is nothing to compare;
a malformed import summary refused by bench labels. Synthetic figures and stubbed work: no benchmark runs."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest

from affectstream.cli.main import main
from tests.media import shared_file
from tests.test_option_checks import refused, stop_every_bench

BENCH_ARGS = {  # the fewest arguments each bench takes, before --out
    "annotate": [], "faces": [], "fer": [], "live": [], "soak": [], "train": [], "labels": ["--data", "."],
    "gui": [],
}


def stop_labels(monkeypatch) -> None:
    def no_models(*args, **kwargs):
        raise AssertionError("bench labels started before --out was checked")

    monkeypatch.setattr("affectstream.bench.labels.compare", no_models)


# -- F5: --out replaces only the bench's own output ----------------------------------------------------------

@pytest.mark.parametrize("bench", sorted(BENCH_ARGS))
@pytest.mark.parametrize("victim, content", [
    ("victim.mp4", b"\x00\x00\x00\x18ftypmp42 not really a video"), ("notes.txt", b"my notes\n"),
    ("p1.txt", b'{"not": "a bench result"}\n'), ("other.json", b'{"bench": "someone-else", "x": 1}\n'),
])
def test_a_bench_refuses_an_out_that_is_not_its_own_output(bench, victim, content, tmp_path, capsys, monkeypatch):
    """bench faces --out victim.mp4 replaced a video by JSON (and notes.txt, p1.txt)."""
    shared_file("videos", "single_face.mp4")  # bench gui's default video must exist for it to reach --out
    stop_every_bench(monkeypatch)
    stop_labels(monkeypatch)
    out = tmp_path / victim
    out.write_bytes(content)
    err = refused(["bench", bench, *BENCH_ARGS[bench], "--out", str(out)], capsys)
    assert f"--out {out}:" in err and f"bench {bench} did not write it" in err, err
    assert err.count("\n") == 1, err  # one line
    assert out.read_bytes() == content


def test_a_bench_replaces_its_own_earlier_output(tmp_path):
    from affectstream.bench.outputs import require_own_output
    from affectstream.core.errors import UserInputError

    own = tmp_path / "faces.json"
    own.write_text(json.dumps({"bench": "faces", "stages": {}}))
    assert require_own_output(own, "faces") == own
    assert require_own_output(tmp_path / "new.json", "faces") == tmp_path / "new.json"  # nothing there yet
    with pytest.raises(UserInputError, match="a bench faces result JSON is already there and bench live did not"):
        require_own_output(own, "live")  # another bench's results are not this one's to replace


def test_bench_labels_refuses_a_png_beside_its_json_that_it_did_not_write(tmp_path, capsys, monkeypatch):
    """bench labels --out victim.json wrote victim.png over a picture of the user's."""
    from matplotlib.figure import Figure

    from affectstream.bench.outputs import png_bench, png_metadata, require_own_output

    stop_labels(monkeypatch)
    out, png = tmp_path / "victim.json", tmp_path / "victim.png"
    picture = Figure(figsize=(1, 1))
    picture.savefig(png, format="png")  # a PNG, but not bench labels'
    before = png.read_bytes()
    err = refused(["bench", "labels", "--data", str(tmp_path), "--out", str(out)], capsys)
    assert f"--out {out} (its plot {png}):" in err and "bench labels did not write it" in err, err
    assert png.read_bytes() == before and not out.exists()
    # What bench labels writes carries its mark, and is its own to replace next time.
    picture.savefig(png, format="png", metadata=png_metadata("labels"))
    assert png_bench(png) == "labels" and require_own_output(png, "labels", kind="png") == png


def test_bench_labels_plot_is_marked_as_its_own(tmp_path):
    from affectstream.bench.labels import plot
    from affectstream.bench.outputs import png_bench

    result = {"split": "test", "models": [{"name": "m"}],
              "sets": {"fer": {"scores": [{"expr_accuracy": 0.5, "expr_macro_f1": 0.4}]}}}
    plot(result, tmp_path / "labels.png")
    assert png_bench(tmp_path / "labels.png") == "labels"


# -- F14, F18: bench live verdicts -----------------------------------------------------------------------------

def live_run(mode: str, fps: float, p95: float | None, faces: int | None = None, found: float | None = None,
             measured: int = 300):
    from affectstream.bench.live import RunSummary

    return RunSummary("v", mode, 300, 300, 0, 300, 10.0, fps, 20.0, p95, {}, faces,
                      faces if found is None else found, latency_results=measured)


def test_a_group_run_that_found_no_faces_is_not_a_measurement_of_them():
    """bench live --faces 1,2 --group-source noface.mp4: faces found 0, yet "1 face fast >= 30 fps: met"."""
    from affectstream.bench.live import group_target, unjudged_notes

    rows = [live_run("fast", 60.0, 20.0, faces=1, found=0), live_run("fast", 50.0, 20.0, faces=2, found=0)]
    target = group_target(rows)
    assert target["checks"]["1 face fast >= 30 fps"] is None and target["met"] is None
    assert group_target([live_run("fast", 60.0, 20.0, faces=1)])["checks"]["1 face fast >= 30 fps"] is True
    notes = unjudged_notes(rows)
    assert notes[0] == "v (1 faces) fast: the engine found 0 of its 1 face(s), so it is no measurement of 1: not measured"


def test_a_live_run_of_too_few_results_has_no_verdict():
    """bench live one.mp4 --warmup 0: fps, p50/p95 and verdicts from a single frame."""
    from affectstream.bench.live import MIN_MEASURED_RESULTS, group_target, one_face_checks, unjudged_notes

    few = MIN_MEASURED_RESULTS - 1
    assert one_face_checks([live_run("fast", 40.0, 30.0, measured=1), live_run("paced", 29.0, 30.0, measured=few)]) \
        == {"fast >= 30 fps": None, "paced p95 <= 50 ms": None}
    assert one_face_checks([live_run("fast", 40.0, 30.0, measured=MIN_MEASURED_RESULTS)])["fast >= 30 fps"] is True
    assert group_target([live_run("fast", 60.0, 20.0, faces=1, measured=1)])["checks"]["1 face fast >= 30 fps"] is None
    assert unjudged_notes([live_run("fast", 40.0, 30.0, measured=1)]) == [
        f"v fast: 1 result(s) after the warm-up, fewer than the {MIN_MEASURED_RESULTS} a verdict needs: not measured"]


def test_bench_live_help_says_how_many_results_a_verdict_needs(capsys):
    from affectstream.bench.live import MIN_MEASURED_RESULTS

    with pytest.raises(SystemExit):
        main(["bench", "live", "--help"])
    assert f"fewer than {MIN_MEASURED_RESULTS} results after it has no verdict" in " ".join(capsys.readouterr().out.split())


def test_group_videos_are_kept_by_their_source_content(tmp_path):
    """A group video built from another --group-source of the same length was reused."""
    from affectstream.bench.live import group_video_path

    source = tmp_path / "face.mp4"
    source.write_bytes(b"one video")
    first = group_video_path(tmp_path, source, 2, 1.0)
    source.write_bytes(b"another video")
    assert group_video_path(tmp_path, source, 2, 1.0) != first


# -- F15: bench gui memory -------------------------------------------------------------------------------------

def test_gui_memory_is_judged_only_on_a_minute_of_samples_after_the_first():
    """--minutes 0.05 --sample-s 5 gave memory_flat true from two samples 1.1 s apart; --minutes 0.2 a NO from a
    slope extrapolated from ~10 s."""
    from affectstream.bench.gui import judge, memory_trend

    figures = {"gui_thread_cpu_ms_per_frame": 3.0, "gui_slots_ms_per_frame": 1.0, "plot_refresh_hz": 25.0}
    short = memory_trend([(2.0, 300.0), (3.1, 300.0)])
    assert short["growth_mb"] is None and judge(figures, short)["memory_flat"] is None
    seconds = memory_trend([(t, 300.0 + t) for t in range(2, 13)])  # 10 s of steep growth
    assert seconds["slope_mb_per_min"] is None and judge(figures, seconds)["memory_flat"] is None
    past_a_minute = memory_trend([(t, 300.0) for t in range(0, 110, 10)])  # the first minute, then 50 s
    assert past_a_minute["growth_mb"] is None
    two_minutes = memory_trend([(t, 300.0 + (t > 60) * 1.0) for t in range(0, 130, 10)])
    assert two_minutes["from_s"] == 60.0 and two_minutes["growth_mb"] == 1.0
    assert judge(figures, two_minutes)["memory_flat"] is True


# -- F16, F19: bench annotate ----------------------------------------------------------------------------------

def fake_annotate_all(videos, out, workers, checkpoint) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for video in videos:
        (out / f"{video.stem}.csv").write_text("frame\n1\n2\n")
    return 0


def run_annotate_bench(video, out, workers: str) -> dict:
    assert main(["bench", "annotate", str(video), "--seconds", "1", "--workers", workers, "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_bench_annotate_loops_a_replaced_video_afresh(tmp_path, monkeypatch):
    """bench annotate clip.mp4 --seconds 1, then clip.mp4 replaced by another video: the stale loop was timed."""
    import affectstream.bench.annotate as annotate

    monkeypatch.setattr(annotate, "annotate_all", fake_annotate_all)
    monkeypatch.setattr("affectstream.core.default_model.resolve_model", lambda path: tmp_path / "model.safetensors")
    clip, out = tmp_path / "clip.mp4", tmp_path / "res" / "annotate.json"
    shutil.copy(shared_file("videos", "single_face.mp4"), clip)
    first = run_annotate_bench(clip, out, "1,2")["videos"]
    shutil.copy(shared_file("videos", "no_face.mp4"), clip)
    second = run_annotate_bench(clip, out, "1,2")["videos"]
    assert first != second  # looped from the new clip, not taken from the cache of the old one
    assert len(list((tmp_path / "res" / "annotate-videos").glob("clip-1s-*.mp4"))) == 2


def test_bench_annotate_with_one_worker_count_compares_nothing(tmp_path, monkeypatch, capsys):
    """--workers 2 alone said "same CSVs as 2: byte-identical", largest_difference_to_first 0.0: itself."""
    import affectstream.bench.annotate as annotate

    monkeypatch.setattr(annotate, "annotate_all", fake_annotate_all)
    monkeypatch.setattr("affectstream.core.default_model.resolve_model", lambda path: tmp_path / "model.safetensors")
    video, out = shared_file("videos", "single_face.mp4"), tmp_path / "annotate.json"
    rows = run_annotate_bench(video, out, "2")["runs"]
    assert rows[0]["largest_difference_to_first"] is None
    printed = capsys.readouterr().out
    assert "byte-identical" not in printed and "no other run to compare its CSVs with" in printed
    rows = run_annotate_bench(video, out, "1,2")["runs"]  # replaces its own earlier JSON
    assert [r["largest_difference_to_first"] for r in rows] == [None, 0.0]


# -- F17: bench labels and a malformed import summary -----------------------------------------------------------

@pytest.mark.parametrize("summary, key", [
    ({}, "'sets' is missing"), ({"sets": 5}, "'sets' is 5, not a list"),
    ({"features": 5, "sets": []}, "'features' is 5"), ({"sets": [5]}, "'sets[0]' is not an object"),
    ({"sets": [{"real_labels": []}]}, "'sets[0].name'"), ({"sets": [{"name": "x"}]}, "'sets[0].real_labels' (x)"),
    ({"sets": [{"name": "x", "real_labels": ["colour"]}]}, "'sets[0].real_labels' (x)"),
    ({"sets": [{"name": "x", "real_labels": [], "import": 3}]}, "'sets[0].import' (x)"),
])
def test_bench_labels_refuses_a_malformed_summary(summary, key, tmp_path, capsys, monkeypatch):
    """bench labels --data lab with summary.json {} or {"sets": 5} or {"features": 5, "sets": []}: tracebacks."""
    monkeypatch.setattr("affectstream.training.evaluation.load_models", fake_load_models)
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    out = tmp_path / "out.json"
    err = refused(["bench", "labels", "--data", str(tmp_path), "--models", "m", "--out", str(out)], capsys)
    assert f"{tmp_path / 'summary.json'}: {key}" in err, err
    assert not out.exists()


def fake_load_models(paths):
    return SimpleNamespace(name="m", members=[SimpleNamespace(meta=SimpleNamespace(provenance={}))])


def test_bench_labels_that_scored_nothing_says_so_and_writes_no_table(tmp_path, capsys, monkeypatch):
    """{"sets": [{"name": "x"}]} wrote an empty table, rc 0."""
    monkeypatch.setattr("affectstream.training.evaluation.load_models", fake_load_models)
    (tmp_path / "summary.json").write_text(json.dumps({"sets": [{"name": "x", "real_labels": ["expression"]}]}))
    out = tmp_path / "out.json"
    assert main(["bench", "labels", "--data", str(tmp_path), "--models", "m", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "scored nothing" in captured.err and f"x: no {tmp_path / 'by_set' / 'x_test.txt'}" in captured.err
    assert "| test split |" not in captured.out
    assert not out.exists() and not out.with_suffix(".png").exists()
