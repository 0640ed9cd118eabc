"""AffectStream: real-time facial affect analysis.

``core`` is the run-time pipeline (sources -> faces -> features -> temporal -> post -> results -> engine);
``jobs`` runs it over files, ``api`` is the one-call Python surface, ``app`` the desktop GUI and
``training`` makes the models; ``bench`` and ``cli`` sit on top (see the README's Architecture).
"""

# The one-call API, imported on first use: `import affectstream` stays light for the parts that
# need neither torch nor MediaPipe.
_API = ("analyze", "Analyzer", "read_results")
__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        from affectstream import api

        return getattr(api, name)
    raise AttributeError(f"module 'affectstream' has no attribute {name!r}")
