"""User-facing errors: each one is reported as one line (no traceback unless ``debug=True``) before any work."""

from __future__ import annotations


class UserError(Exception):
    """A bad input or condition the user can fix; the message names the value and what is allowed."""

    exit_code = 2


class ConfigError(UserError, ValueError):
    """A config value is invalid; the message names the key, the value and what is allowed."""


class CheckpointError(UserError):
    """A checkpoint file cannot be used for what was asked (unreadable, another run's, non-finite)."""


class RunDirError(UserError):
    """The run folder cannot take this run (it holds another run's results, is not writable, or the disk is full)."""


class DivergedError(UserError):
    """Training produced non-finite losses or weights; the last good checkpoint was kept."""

    exit_code = 3
