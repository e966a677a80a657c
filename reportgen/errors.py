"""Exceptions the CLI turns into exit codes; anything else is a bug and keeps its traceback."""


class InputError(Exception):
    """Bad user input (unreadable file, unknown format, bad option): exit 2, one clear line."""
