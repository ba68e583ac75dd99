"""Errors a user can act on. Each message says what went wrong *and* what to do about it."""

from __future__ import annotations


class ReasonScopeError(Exception):
    """Base class: anything the CLI and the app show as a clean message instead of a stack trace."""


class ModelLoadError(ReasonScopeError):
    pass


class InputError(ReasonScopeError, ValueError):
    """Bad user input: prompts, files, layer indices, configs."""


class StoreError(ReasonScopeError):
    pass


class DiskError(StoreError):
    """A write failed because of the disk: full, read-only, missing permission (``core.fsio``)."""


class UnwritableError(DiskError, PermissionError):
    """A folder ReasonScope must write to cannot be created or written (``core.config.ensure_writable``)."""


class CorruptIndexError(StoreError):
    """An SQLite index or database file is damaged; the message names the repair command."""


class LimitError(InputError):
    """User input over a configured limit (file size, rows, nesting depth, prompt length)."""


class NonFiniteError(ReasonScopeError):
    """A computation produced NaN or infinite values (e.g. steered activations that blew up): the attempt
    was aborted rather than returning empty or garbage output."""


class AuditFailed(ReasonScopeError):
    """An audit whose numbers cannot be trusted (e.g. a subject answered mostly with empty responses)."""
