"""AffectStream: real-time facial affect analysis.

``core`` is the run-time pipeline (sources -> faces -> features -> temporal -> post -> results -> engine);
``jobs`` runs it over files, ``api`` is the one-call Python surface, ``app`` the desktop GUI and
``training`` makes the models; ``bench`` and ``cli`` sit on top (see the README's Architecture).
"""

# The one-call API and the engine's options, imported on first use: `import affectstream` stays light for
# the parts that need neither torch nor MediaPipe (the options come with the engine, which loads torch).
_API = ("analyze", "Analyzer", "FrameResult", "read_results")
_OPTIONS = ("EngineOptions", "EngineFaces", "EnginePost", "EngineRuntime")
__all__ = [*_API, *_OPTIONS]


def __getattr__(name: str):
    if name in _API:
        from affectstream import api

        return getattr(api, name)
    if name in _OPTIONS:
        from affectstream.core import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'affectstream' has no attribute {name!r}")
