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


class RemoteError(ReasonScopeError):
    """A trace sent to NDIF (the public service or a self-hosted host) failed; subclasses say why."""


class RemoteUnreachableError(RemoteError):
    """The NDIF host does not answer (wrong URL, server down, no network)."""


class RemoteModelError(RemoteError):
    """The host answers but does not serve that model (not deployed, or it failed to load there)."""


class RemoteAuthError(RemoteError):
    """The host refused the API key (missing, malformed, revoked)."""


class RemoteTimeoutError(RemoteError):
    """A remote request did not finish within its deadline."""


class RemoteUnsafeError(RemoteError):
    """A trace that cannot run remotely (it needs local code or objects the server cannot rebuild); found by
    nnsight's local simulation before anything is sent."""
