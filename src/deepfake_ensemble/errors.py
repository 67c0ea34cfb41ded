"""Errors raised on bad input: each names the file, the row or the key."""


class InputError(ValueError):
    """Bad user input (a dataset root, a metadata file, a config value)."""
