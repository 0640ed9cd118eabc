"""AffectStream: real-time facial affect analysis.

The folders follow the data flow, each a step that uses only the ones before it:
sources -> faces -> features -> temporal -> post -> results -> engine -> jobs -> app,
with bench and cli on top and training beside them (see the README's Architecture).
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
