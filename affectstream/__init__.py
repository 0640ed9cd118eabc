"""AffectStream: real-time facial affect analysis.

The folders follow the data flow, each a step that uses only the ones before it:
sources -> faces -> features -> temporal -> post -> results -> engine -> jobs -> app,
with bench and cli on top and training beside them (see the README's Architecture).
"""

