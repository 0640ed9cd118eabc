"""The base of errors caused by the user's input (files, labels, checkpoints).

The command line prints them as one clear line instead of a traceback.
"""


class UserInputError(ValueError):
    """Bad input: a malformed file, a missing feature file, a mismatched checkpoint."""


def require_at_least(least: int, **options: float) -> None:
    """Each option (``--name`` spelled ``name``, ``_`` for ``-``) is at least ``least``, else a UserInputError
    naming the first that is not: one check for the counts of many commands."""
    for name, value in options.items():
        if value < least:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least {least}, got {value}")
