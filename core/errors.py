"""Errors that the CLI turns into one clear line instead of a traceback."""

from __future__ import annotations


class TerraMinerError(Exception):
    """An error a user can act on. ``str(err)`` is one line: what happened and what to do next."""

    exit_code = 1


class StackNotRunningError(TerraMinerError):
    """The local warehouse is needed but not running."""
