"""The *where* half of a trace: run an nnsight block here, or ship it to an NDIF host.

Every traced block in ReasonScope is written once (``core.capture.tracing``, ``core.capture.traced_generate``)
and opened with ``model.lm.trace(..., **model.runner.trace_kwargs())``. ``LocalRunner`` adds nothing;
``RemoteRunner`` adds a ``TrackedBackend``, which

1. serialises the block as nnsight's remote path does (ReasonScope's own modules by value: the server has no
   ``core``), then deserialises it with local modules hidden -- nnsight's ``remote="local"`` simulation
   without running it -- so a block that is not remote-safe fails here (``RemoteUnsafeError``) before any
   byte is sent;
2. sends it, streaming every status (RECEIVED, QUEUED, RUNNING, COMPLETED, LOG) to the listener set with
   ``remote_status`` (a job's event log), either over the server's websocket (``blocking``) or as a
   non-blocking request that is polled (the request id is reported first, so a job can name it);
3. gives up after ``timeout`` seconds, and maps every failure to one ``core.errors.Remote*Error``;
4. pushes the ``.save()``d values into the caller's frame like a local trace, so callers do not branch.

Only saved values come back; the model's weights never leave the server.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import linecache
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from core.capture.placement import api_key, describe
from core.errors import (
    RemoteAuthError,
    RemoteError,
    RemoteModelError,
    RemoteTimeoutError,
    RemoteUnreachableError,
    RemoteUnsafeError,
)

DEFAULT_TIMEOUT_S = 600.0
# (status, description, request id): NDIF's lifecycle names and LOG, plus two of ours: "SUBMITTED" (the
# request id, as soon as the server has it) and "TRANSFER" (bytes sent and received, once the result is here)
StatusListener = Callable[[str, str, str | None], None]
_LISTENER: contextvars.ContextVar[StatusListener | None] = contextvars.ContextVar(
    "remote_listener", default=None
)
_CANCEL: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "remote_cancel", default=None
)
_BLOCKING: contextvars.ContextVar[bool | None] = contextvars.ContextVar("remote_blocking", default=None)


@contextlib.contextmanager
def remote_status(
    listener: StatusListener, cancelled: Callable[[], bool] | None = None, *, blocking: bool | None = None
) -> Iterator[None]:
    """Route the status of every remote request made inside the block to ``listener``; ``cancelled()`` is
    asked between status updates (a true answer stops waiting with ``Cancelled``). ``blocking=False``: send
    non-blocking requests and poll them (what jobs do: the request id is known before the result)."""
    t1, t2, t3 = _LISTENER.set(listener), _CANCEL.set(cancelled), _BLOCKING.set(blocking)
    try:
        yield
    finally:
        _LISTENER.reset(t1)
        _CANCEL.reset(t2)
        _BLOCKING.reset(t3)


class Cancelled(RemoteError):
    """The job was cancelled while a remote request was in flight (the server may still finish it)."""


@dataclass(frozen=True, kw_only=True)
class LocalRunner:
    """Traces run on this machine: nothing to add to ``lm.trace``."""

    where: str = "local"

    @property
    def is_remote(self) -> bool:
        return False

    def trace_kwargs(self, **_: Any) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, kw_only=True)
class RemoteRunner:
    """Traces run on the NDIF host ``host``; ``where`` is the user's spelling (``ndif`` or the URL)."""

    where: str
    host: str
    lm: Any
    timeout: float = DEFAULT_TIMEOUT_S
    blocking: bool = True

    @property
    def is_remote(self) -> bool:
        return True

    def trace_kwargs(self, *, blocking: bool | None = None) -> dict[str, Any]:
        backend = TrackedBackend(
            self.lm,
            host=self.host,
            label=describe(self.where),
            timeout=self.timeout,
            blocking=_pick(blocking, _BLOCKING.get(), self.blocking),
            listener=_LISTENER.get(),
            cancelled=_CANCEL.get(),
        )
        return {"backend": backend}


_VERIFIED: set[tuple] = set()  # call sites whose blocks rebuilt with local modules hidden


def _kinds(values: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Name and type of each local (and of the items of lists, e.g. interventions): what decides whether a
    block can be rebuilt on the server, not the values themselves."""
    out = []
    for name, v in values.items():
        kind = f"{type(v).__module__}.{type(v).__qualname__}"
        if isinstance(v, list | tuple):
            kind += "[" + ",".join(sorted({f"{type(x).__module__}.{type(x).__qualname__}" for x in v})) + "]"
        out.append((name, kind))
    return tuple(sorted(out))


def _pick(*choices: bool | None) -> bool:
    return next(c for c in choices if c is not None)


def _ship_by_value() -> None:
    # The server has nnsight, torch and numpy but not ReasonScope: objects of ours that a block references
    # (steering interventions, their position context) must travel as source, not as an import.
    from nnsight import ndif

    ndif.register("core")


def _remote_backend_class() -> type:
    from nnsight.intervention.backends.remote import RemoteBackend

    return RemoteBackend


class TrackedBackend:
    """An nnsight backend (called with the tracer when the ``with`` block exits); see the module docstring."""

    def __init__(
        self,
        lm: Any,
        *,
        host: str,
        label: str,
        timeout: float,
        blocking: bool,
        listener: StatusListener | None,
        cancelled: Callable[[], bool] | None,
    ) -> None:
        base = _remote_backend_class()
        self.lm, self.label, self.timeout = lm, label, timeout
        self.listener, self.cancelled = listener, cancelled
        # The key is handed to nnsight's backend for the headers and kept nowhere else.
        self.inner = base(lm.to_model_key(), host=host, api_key=api_key(), blocking=blocking)
        self.inner.display.enabled = False  # statuses go to our listener, not to a terminal spinner
        self.sent_bytes = 0
        self.received_bytes = 0

    # ---- 1. remote-safety ----------------------------------------------------------------------------------
    def serialize(self, tracer: Any) -> bytes:
        from nnsight.intervention.backends.local import LocalSimulationBackend
        from nnsight.schema.request import RequestModel

        _ship_by_value()
        try:
            blob = self.inner._serialize(tracer)  # also registers non-installed modules (nnsight's pull_env)
        except Exception as exc:  # noqa: BLE001 - anything that cannot be pickled
            raise RemoteUnsafeError(
                f"This trace cannot be sent to {self.label}: {_first_line(exc)}."
            ) from exc
        self.sent_bytes = len(blob)
        frame = tracer.info.frame
        # Once per call site and kinds of values: hiding modules is process-wide for a moment (other threads,
        # e.g. Streamlit's, must not import then), and the same block with the same kinds of values rebuilds
        # the same way every time.
        site = (frame.f_code.co_filename, frame.f_code.co_name, _kinds(frame.f_locals))
        if site in _VERIFIED:
            return blob
        # nnsight's remote="local" simulation, minus the run: rebuild the block with local modules hidden,
        # exactly as the server will (its private helpers; nnsight is pinned to 0.8.x).
        sim = LocalSimulationBackend(self.lm)
        filename = frame.f_code.co_filename
        saved_line = linecache.cache.get(filename)
        hidden = sim._hide_local_modules()
        try:
            RequestModel.deserialize(
                blob, self.lm._remoteable_persistent_objects(), compress=self.inner.compress
            )
        except Exception as exc:  # noqa: BLE001 - ModuleNotFoundError and friends: what the server would hit
            raise RemoteUnsafeError(
                f"This trace is not remote-safe ({_first_line(exc)}): it needs code or objects that exist "
                f"only on this machine, so {self.label} could not rebuild it. Nothing was sent."
            ) from exc
        finally:
            sim._restore(hidden)
            if saved_line is not None:
                linecache.cache[filename] = saved_line
            else:
                linecache.cache.pop(filename, None)
        _VERIFIED.add(site)
        return blob

    # ---- 2-4. send, wait, push -----------------------------------------------------------------------------
    def __call__(self, tracer: Any) -> Any:
        blob = self.serialize(tracer)
        deadline = time.monotonic() + self.timeout
        try:
            result = self._stream(blob, deadline) if self.inner.blocking else self._poll(blob, deadline)
        except RemoteError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to one line the boundaries can show
            raise classify(exc, self.label) from exc
        # Bandwidth is the cost of remote work: say what crossed the network (payload out, saves back).
        moved = f"sent {self.sent_bytes} B, received {self.received_bytes} B"
        self._emit("TRANSFER", moved, self.inner.job_id)
        if isinstance(result, dict):
            self.inner._push(result, tracer)
        return result

    def _emit(self, status: str, description: str = "", request_id: str | None = None) -> None:
        if self.listener is not None:
            self.listener(status, description, request_id)

    def _check(self, deadline: float) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled("Cancelled while waiting for the remote request.")
        if time.monotonic() > deadline:
            raise RemoteTimeoutError(
                f"{self.label} did not finish the request within {self.timeout:.0f} s; the server may be "
                "busy. Retry later, or raise the timeout."
            )

    def _note(self, response: Any) -> bool:
        status = getattr(response.status, "value", str(response.status))
        self._emit(status, str(response.description or ""), response.id)
        try:
            return bool(self.inner.note(response))
        except Exception as exc:  # noqa: BLE001 - nnsight's RemoteError carries the server's description
            raise classify(exc, self.label) from exc

    def _download(self, data: Any) -> Any:
        if isinstance(data, bytes | bytearray):
            self.received_bytes = len(data)
            return self.inner.finalize(bytes(data))
        finalize = self.inner.finalize

        def counting(content: bytes) -> Any:
            self.received_bytes = len(content)
            return finalize(content)

        self.inner.finalize = counting
        try:
            return self.inner.download_result(data)
        finally:
            self.inner.finalize = finalize

    def _poll(self, blob: bytes, deadline: float) -> Any:
        """Non-blocking: POST, then GET ``/response/{id}`` (the server keeps the latest status only)."""
        from nnsight.schema.request import RequestModel

        inner = self.inner
        request = RequestModel(model_key=inner.model_key, compress=inner.compress, env=inner.env)
        first = inner._post(request, blob)
        inner.job_id = first.id
        self._emit("SUBMITTED", "", first.id)
        if self._note(first):
            return self._download(first.data)
        last = first.status
        wait = 0.02
        while True:
            self._check(deadline)
            response = _get_response(inner)
            if response is not None and response.status != last:
                last = response.status
                if self._note(response):
                    return self._download(response.data)
            time.sleep(wait)
            wait = min(wait * 1.5, 1.0)

    def _stream(self, blob: bytes, deadline: float) -> Any:
        """Blocking: subscribe to the websocket first (no status is missed, LOG lines included), then POST."""
        import websocket
        from nnsight.schema.request import RequestModel

        inner = self.inner
        header = {"ndif-api-key": inner.api_key} if inner.api_key else None
        conn = websocket.create_connection(f"{inner.ws_host}/subscribe", header=header, timeout=10)
        try:
            request = RequestModel(model_key=inner.model_key, compress=inner.compress, env=inner.env)
            request.session_id = json.loads(conn.recv())["session_id"]
            first = inner._post(request, blob)
            inner.job_id = first.id
            self._emit("SUBMITTED", "", first.id)
            if self._note(first):
                return self._download(first.data)
            conn.settimeout(0.25)
            while True:
                self._check(deadline)
                try:
                    message = conn.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                response = inner.parse(message)
                if self._note(response):
                    return self._download(response.data)
        finally:
            conn.close()


def _get_response(inner: Any) -> Any:
    import httpx
    from nnsight.schema.response import ResponseModel

    headers = {"ndif-api-key": inner.api_key} if inner.api_key else None
    with httpx.Client(timeout=httpx.Timeout(10.0, read=60.0)) as client:
        http = client.get(f"{inner.host}/response/{inner.job_id}", headers=headers)
    if http.status_code == 404:
        return None  # no status stored yet
    http.raise_for_status()
    return ResponseModel.model_validate_json(http.text)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def classify(exc: BaseException, label: str) -> RemoteError:
    """One ``Remote*Error`` for whatever the network, the server or nnsight raised."""
    text = _first_line(exc)
    low = text.lower()
    if isinstance(exc, RemoteError):
        return exc
    if (
        isinstance(exc, ConnectionError | OSError)
        or any(
            s in low for s in ("connection refused", "connecterror", "name or service", "failed to establish")
        )
        or type(exc).__name__ in ("ConnectError", "ConnectTimeout", "WebSocketAddressException")
    ):
        return RemoteUnreachableError(
            f"{label} cannot be reached ({text}). Check the host URL and that the server is running."
        )
    if any(s in low for s in ("api key", "unauthorized", "forbidden", "401", "403")):
        return RemoteAuthError(
            f"{label} refused the API key ({text}). Set a valid key in NDIF_API_KEY (https://login.ndif.us)."
        )
    if any(
        s in low for s in ("not deployed", "model_key", "not found", "no deployment", "describe_checkpoint")
    ):
        return RemoteModelError(
            f"{label} does not serve this model ({text}). Pick a model deployed there "
            "(nnsight.ndif.status())."
        )
    if "timeout" in low or "timed out" in low:
        return RemoteTimeoutError(f"{label} timed out ({text}). Retry later.")
    return RemoteError(f"The remote request to {label} failed: {text}")


@contextlib.contextmanager
def quiet_dangling_warnings() -> Iterator[None]:
    """An open ``tracer.iter[:]`` loop ends by leaving one request parked, which nnsight reports as a warning
    by design; ReasonScope's generation loop is written that way on purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*was never reached.*")
        yield
