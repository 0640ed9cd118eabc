"""The run-time pipeline, one room per step: sources -> faces -> features -> temporal -> post -> results,
joined by ``engine``. Each room imports only the rooms before it (the import-linter contract in
pyproject.toml); the small modules beside them (labels, errors, atomic, ...) are shared by all.
"""
