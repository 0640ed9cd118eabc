"""The base of errors caused by the user's input (files, labels, checkpoints).

The command line prints them as one clear line instead of a traceback.
"""


class UserInputError(ValueError):
    """Bad input: a malformed file, a missing feature file, a mismatched checkpoint."""
