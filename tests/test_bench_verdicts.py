"""Benchmark verdicts judged on what was measured (issue 36): a target not measured is "not measured" (JSON
null), never "met"; a warm-up that leaves nothing to measure is refused before the work, or the run says it
measured nothing and exits non-zero; the JSON says what was used. Synthetic measurements, no benchmark run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from affectstream.bench.verdict import all_met, at_least, at_most, verdict_text
from affectstream.cli.main import main
from tests.media import shared_file


def test_a_verdict_without_a_figure_is_not_measured():
    assert at_most(None, 20.0) is None and at_least(None, 30.0) is None
    assert at_most(20.0, 20.0) is True and at_least(29.9, 30.0) is False
    assert all_met([]) is None and all_met([True, None]) is None and all_met([None, False]) is False
    assert all_met([True, True]) is True
    assert [verdict_text(v) for v in (True, False, None)] == ["met", "NOT met", "not measured"]


# -- bench soak ------------------------------------------------------------------------------------------------

def soak_samples(*points: tuple[float, float]) -> list[dict[str, float]]:
    return [{"video_minutes": minutes, "rss_mb": mb, "wall_minutes": minutes / 2} for minutes, mb in points]


def test_soak_growth_without_a_sample_after_minute_one_is_not_measured():
    """bench soak --minutes 1 said "growth after first minute +0.0 MB ... met" with no sample after minute 1."""
    from affectstream.bench.soak import growth_after_first_minute

    assert growth_after_first_minute(soak_samples((0.0, 300.0), (1.0, 350.0))) is None
    assert growth_after_first_minute(soak_samples((0.0, 300.0), (0.5, 340.0))) is None  # a shorter run
    # From the first minute's sample, not from the start (loading the engine is not growth).
    assert growth_after_first_minute(soak_samples((0.0, 300.0), (1.0, 350.0), (10.0, 362.0), (20.0, 356.0))) == 12.0
    assert growth_after_first_minute(soak_samples((0.0, 300.0), (1.0, 350.0), (10.0, 340.0))) == 0.0


def test_a_long_soak_that_would_sample_nothing_after_minute_one_is_refused():
    from affectstream.bench.soak import check_sampling, sample_marks
    from affectstream.core.errors import UserInputError

    with pytest.raises(UserInputError, match="--every 40 takes no memory sample after the first of --minutes 30"):
        check_sampling(30.0, 40.0)
    check_sampling(30.0, 10.0)
    check_sampling(0.1, 0.05)  # a quick check: its growth is reported not measured
    assert sample_marks(30.0, 10.0) == [1.0, 10.0, 20.0, 30.0]
    assert sample_marks(1.5, 0.5) == [0.5, 1.0, 1.5]


# -- bench live ------------------------------------------------------------------------------------------------

def live_run(mode: str, fps: float, p95: float | None, faces: int | None = None):
    from affectstream.bench.live import RunSummary

    return RunSummary("v", mode, 300, 300, 0, 300, 10.0, fps, 20.0, p95, {}, faces, faces)


def test_live_fast_runs_alone_leave_the_paced_target_not_measured():
    """bench live --modes fast judged the paced p95 target "met"."""
    from affectstream.bench.live import one_face_checks, target_met

    fast_only = [live_run("fast", 40.0, 30.0)]
    assert one_face_checks(fast_only) == {"fast >= 30 fps": True, "paced p95 <= 50 ms": None}
    assert target_met(fast_only) is None
    assert target_met([live_run("paced", 29.0, None)]) is None  # paced without a latency figure
    assert target_met([live_run("fast", 20.0, 30.0)]) is False  # a measured miss is a miss
    assert target_met([live_run("fast", 40.0, 30.0), live_run("paced", 29.0, 45.0)]) is True
    assert target_met([live_run("camera", 30.0, 20.0)]) is None


def test_live_group_checks_without_their_runs_are_not_measured():
    from affectstream.bench.live import group_target

    fast_only = group_target([live_run("fast", 31.0, 30.0, faces=4), live_run("fast", 60.0, 20.0, faces=1)])
    assert fast_only["checks"]["4 faces fast >= 30 fps"] is True
    assert fast_only["checks"]["4 faces paced >= 24 fps, p95 <= 80 ms"] is None
    assert fast_only["checks"]["1 face paced p95 <= 50 ms"] is None
    assert fast_only["met"] is None


def fake_results(count: int) -> list:
    latency = SimpleNamespace(total=12.0, faces=5.0, features=4.0, model=2.0, post=1.0)
    return [SimpleNamespace(latency=latency, faces=(object(),), success=True) for _ in range(count)]


def test_live_warmup_that_takes_every_result_leaves_no_latency_figure():
    """bench live --warmup 100000 used every result while its JSON said 100000 were left out."""
    from affectstream.bench.live import summarise

    run = summarise("v", "fast", fake_results(72), 72, 0, 2.0, warmup=100000)
    assert run.latency_results == 0 and run.p95_ms is None and run.p50_ms is None
    assert run.stage_median_ms == {"faces": None, "features": None, "model": None, "post": None}
    assert run.processed == 72 and run.fps == 36.0  # the frame rate is every result's
    kept = summarise("v", "fast", fake_results(72), 72, 0, 2.0, warmup=5)
    assert kept.latency_results == 67 and kept.p95_ms == 12.0


def test_live_warmup_longer_than_a_video_is_refused_before_the_engine(tmp_path, capsys, monkeypatch):
    video = shared_file("videos", "single_face.mp4")

    def no_engine(*args, **kwargs):
        raise AssertionError("the engine was built before --warmup was checked")

    monkeypatch.setattr("affectstream.core.engine.AffectEngine", no_engine)
    out = tmp_path / "live.json"
    assert main(["bench", "live", str(video), "--warmup", "100000", "--untrained", "--hidden", "16",
                 "--features", "blendshapes", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--warmup 100000 leaves nothing to measure in single_face.mp4 (72 frames)" in err
    assert not out.exists()


def test_live_runs_that_measured_nothing_exit_non_zero_without_writing(tmp_path, capsys, monkeypatch):
    """A paced run can drop below --warmup results: when no run has a latency figure the bench says so."""
    import affectstream.bench.live as live

    video = shared_file("videos", "single_face.mp4")
    monkeypatch.setattr(live, "run_one", lambda engine, source, mode, warmup, **kw: live.summarise(
        source.name, mode, fake_results(3), 3, 0, 1.0, warmup))
    out = tmp_path / "live.json"
    assert main(["bench", "live", str(video), "--warmup", "10", "--untrained", "--hidden", "16",
                 "--features", "blendshapes", "--out", str(out)]) == 1
    assert "measured nothing: --warmup 10 left out every result of every run" in capsys.readouterr().err
    assert not out.exists()


# -- bench faces -----------------------------------------------------------------------------------------------

def test_faces_target_without_its_stage_is_not_measured():
    from affectstream.bench.faces import HEADLINE, headline_target

    assert headline_target({})["met"] is None
    assert headline_target({HEADLINE: {"n": 0, "median_ms": None}})["met"] is None
    assert headline_target({HEADLINE: {"n": 9, "median_ms": 19.0}})["met"] is True
    assert headline_target({HEADLINE: {"n": 9, "median_ms": 21.0}})["met"] is False


def test_faces_warmup_that_leaves_nothing_is_refused_or_reported(tmp_path, capsys, monkeypatch):
    """bench faces --warmup 100000 printed an empty table and frames_with_face: 0, rc 0."""
    import affectstream.bench.faces as faces

    video = shared_file("videos", "single_face.mp4")

    def no_timing(*args, **kwargs):
        raise AssertionError("timed before --warmup was checked")

    monkeypatch.setattr(faces, "bench_video", no_timing)
    out = tmp_path / "faces.json"
    assert main(["bench", "faces", str(video), "--warmup", "100000", "--out", str(out)]) == 2
    assert "--warmup 100000 leaves nothing to measure in single_face.mp4 (72 frames)" in capsys.readouterr().err
    # A video whose container overstates its frames: the run itself says it measured nothing.
    monkeypatch.setattr(faces, "bench_video", lambda *args: ({}, 72, 1.0))
    assert main(["bench", "faces", str(video), "--warmup", "70", "--out", str(out)]) == 1
    assert "measured nothing" in capsys.readouterr().err and not out.exists()


# -- bench gui -------------------------------------------------------------------------------------------------

def test_gui_memory_target_without_samples_is_not_measured():
    from affectstream.bench.gui import judge, met_text

    figures = {"gui_thread_cpu_ms_per_frame": 3.0, "gui_slots_ms_per_frame": 1.0, "plot_refresh_hz": 25.0}
    unsampled = {"from_s": 1.4, "start_mb": None, "end_mb": None, "growth_mb": None, "slope_mb_per_min": None}
    verdicts = judge(figures, unsampled)
    assert verdicts == {"gui_thread_cpu_ms_per_frame": True, "gui_slots_ms_per_frame": True,
                        "plot_refresh_hz": True, "memory_flat": None}
    assert met_text(verdicts["memory_flat"]) == "not measured"
    flat = {**unsampled, "growth_mb": 3.0, "slope_mb_per_min": 2.5}
    assert judge(figures, flat)["memory_flat"] is False and met_text(False) == "NO"
