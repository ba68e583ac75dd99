"""Live safety monitor: score every token's hidden state with a probe *while* the model generates.

How it works (no second pass): a ``ProbeMonitor`` plugs into the generation call through two standard seams --

* an intervention for ``core.capture.tracing``'s ``interventions`` hook: at the probe's layer it computes the
  probe score of the states that forward produced (the whole prompt at prefill, then one token per decoding
  step, then the final token in one extra cached step) and pushes them to a queue;
* a transformers streamer that receives the token ids as they are chosen.

A generator on the caller's side pairs ids and scores by absolute position and yields one ``TokenScore`` per
token, as soon as both are known. Generation runs in a worker thread (holding the model lock), so a consumer
that stops reading never blocks the model.

The score is the probe's P(unsafe) of the token's *own* state at the probe layer (the same convention as a
stored trajectory), so token t's score arrives while token t+1 is being computed.

Threshold crossing: the first **generated** token whose score is at or above the threshold -- where the
reasoning turned. Guard modes act from the next forward on: ``stop`` ends generation (one more token is
emitted, because transformers checks stopping after it appends a token), ``steer`` switches on the given
steering vector for the rest of the generation.

``monitor_generate`` runs its own ``generate`` (all guard modes, no full capture); ``monitor_capture`` wraps
``core.capture.tracing.capture`` so the full trajectory comes back too (guard ``stop`` is not available there
because capture takes no stopping criteria).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from core import checks
from core.capture.models import LoadedModel
from core.capture.tracing import _check_chat, _eos_ids, capture, intervene
from core.capture.trajectory import GenerationSettings, Message, Trajectory
from core.errors import InputError
from core.probes.contrastive import ContrastiveProbe
from core.probes.linear import Probe
from core.steer.interventions import SteeringConfig, make_interventions
from core.steer.monitor_records import MonitorResult, TokenScore
from core.steer.monitor_remote import monitor_remote
from core.steer.vectors import SteeringVector

Guard = Literal["off", "stop", "steer"]


def check_threshold(threshold: object) -> float:
    """A monitor threshold on P(unsafe): a finite number in [0, 1] (``InputError`` otherwise)."""
    return checks.probability(
        "threshold", threshold, hint="It is the probe's P(unsafe) at which the reasoning counts as turned."
    )


def _scorer(probe: Probe | ContrastiveProbe) -> tuple[int, Any]:
    """(layer, torch fn [n, d] -> [n]) for a linear ``Probe`` or a ``ContrastiveProbe`` (1 - P(safe))."""
    import torch

    if hasattr(probe, "weight") and hasattr(probe, "bias"):
        w = torch.as_tensor(np.asarray(probe.weight), dtype=torch.float32)
        b = float(probe.bias)

        def linear(h: Any) -> Any:
            return torch.sigmoid(h.float() @ w.to(h.device) + b)

        return int(probe.layer), linear
    if hasattr(probe, "module") and hasattr(probe, "p_safe"):
        mod = probe.module

        def head(h: Any) -> Any:
            return 1.0 - torch.softmax(mod(h.float().cpu())[1], dim=-1)[:, 0]

        return int(probe.layer), head
    raise InputError("The monitor needs a trained probe (a layer of a probe set) or a contrastive head.")


class ProbeMonitor:
    """Scores states at ``probe.layer`` during generation; ``events`` gets ("ids"|"scores"|"done", …)
    tuples."""

    def __init__(
        self,
        model: LoadedModel,
        probe: Probe | ContrastiveProbe,
        *,
        threshold: float = 0.5,
        guard: Guard = "off",
        steering: tuple[SteeringVector, SteeringConfig] | None = None,
    ) -> None:
        threshold = check_threshold(threshold)
        self.layer, self._score = _scorer(probe)
        if not 0 <= self.layer <= model.n_layers:
            raise InputError(
                f"The probe reads layer {self.layer}, but this model has layers 0..{model.n_layers}."
            )
        d = getattr(probe, "d_model", model.d_model)
        if d != model.d_model:
            raise InputError(
                f"The probe expects states of size {d}, but the model's hidden size is {model.d_model}: "
                "it was trained on another model."
            )
        if guard not in ("off", "stop", "steer"):
            raise InputError(f"Guard mode must be off, stop or steer; got {guard!r}.")
        if guard == "steer" and steering is None:
            raise InputError("Guard mode 'steer' needs a steering vector and config to switch on.")
        self.threshold, self.guard = float(threshold), guard
        self._steer_fns: list[Any] = []
        if steering is not None:
            self._steer_fns = make_interventions(steering[0], steering[1], model)
        self.events: queue.Queue = queue.Queue()
        self.n_prompt: int | None = None
        self.crossing: int | None = None
        self.stop_requested = False
        self._pending_steer = False
        self.steer_on = False
        self.steered_from: int | None = None

    # -- the intervention: f(layer, hidden [B, S, d], ctx) -> hidden -----------------------------------------
    def intervention(self, layer: int, hidden: Any, ctx: Any) -> Any:
        if layer == 0 and self._pending_steer and not self.steer_on:  # switch on at the start of a forward
            self.steer_on, self.steered_from = True, ctx.position_offset
        if self.steer_on:
            for f in self._steer_fns:
                hidden = f(layer, hidden, ctx)
        if layer == self.layer:
            import torch

            with torch.no_grad():
                scores = self._score(hidden[0]).cpu().tolist()  # batch of one: [S]
            start = ctx.position_offset
            if self.crossing is None:  # decided before the scores are published: consumers see both at once
                for i, s in enumerate(scores):
                    if start + i >= ctx.n_prompt and s >= self.threshold:
                        self.crossing = start + i
                        self.stop_requested = self.guard == "stop"
                        self._pending_steer = self.guard == "steer"
                        break
            self.events.put(("scores", start, scores, self.steer_on, self.crossing))
        return hidden

    # -- the streamer (transformers' BaseStreamer protocol: put / end) -------------------------------------
    def put(self, value: Any) -> None:
        ids = value.reshape(-1).tolist()
        self.events.put(("ids", ids))

    def end(self) -> None:
        pass

    def stopping_criteria(self) -> Any:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        monitor = self

        class _GuardStop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), monitor.stop_requested, dtype=torch.bool)

        return StoppingCriteriaList([_GuardStop()])


def _generate_monitored(
    model: LoadedModel, mon: ProbeMonitor, prompt: list[int], settings: GenerationSettings
) -> None:
    """hf ``generate`` with the monitor's hook, streamer and stopping criteria, plus the final token's
    step."""
    import torch

    ids = torch.tensor([prompt], device=model.device)
    mask = torch.ones_like(ids)
    torch.manual_seed(settings.seed)
    with model.lock, torch.no_grad(), intervene(model, [mon.intervention], n_prompt=len(prompt)):
        out = model.hf_model.generate(
            input_ids=ids,
            attention_mask=mask,
            streamer=mon,
            pad_token_id=model.tokenizer.pad_token_id,
            return_dict_in_generate=True,
            stopping_criteria=mon.stopping_criteria(),
            **settings.to_generate_kwargs(),
        )
        seqs = out.sequences
        if (
            seqs.shape[1] > ids.shape[1]
        ):  # the last token's state: one cached step, as core.capture.tracing does
            full = torch.ones_like(seqs)
            model.hf_model(
                input_ids=seqs[:, -1:],
                attention_mask=full,
                position_ids=torch.tensor([[seqs.shape[1] - 1]], device=model.device),
                past_key_values=out.past_key_values,
                use_cache=True,
            )


def _stream(
    model: LoadedModel, mon: ProbeMonitor, prompt: list[int], run: Any
) -> Iterator[TokenScore | MonitorResult]:
    """Run ``run()`` in a worker thread; pair streamed ids with scores by position; yield as they complete."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            box["error"] = exc
        finally:
            mon.events.put(("done",))

    mon.n_prompt = len(prompt)
    worker = threading.Thread(target=work, name="reasonscope-monitor", daemon=True)
    worker.start()
    ids: list[int] = []
    scores: dict[int, tuple[float, bool]] = {}
    crossing: list[int | None] = [None]
    emitted: list[TokenScore] = []
    eos = _eos(model)
    first_ids = True
    tok = model.tokenizer

    def ready() -> Iterator[TokenScore]:
        while len(emitted) < len(ids) and len(emitted) in scores:
            p = len(emitted)
            s, steer = scores.pop(p)
            ts = TokenScore(
                position=p,
                token_id=ids[p],
                text=tok.decode([ids[p]]),
                score=float(s),
                generated=p >= len(prompt),
                crossed=p == crossing[0],
                steering=steer,
            )
            emitted.append(ts)
            yield ts

    while True:
        ev = mon.events.get()
        if ev[0] == "ids":
            if first_ids:  # generate streams the prompt first; we already know it
                first_ids = False
                ids.extend(prompt)
                continue
            ids.extend(ev[1])
        elif ev[0] == "scores":
            for i, s in enumerate(ev[2]):
                scores.setdefault(ev[1] + i, (s, ev[3]))  # a fallback re-trace may repeat positions
            crossing[0] = ev[4]
        elif ev[0] == "done":
            break
        yield from ready()
    worker.join()
    if "error" in box:
        raise box["error"]
    yield from ready()
    text = tok.decode([i for i in ids[len(prompt) :] if i not in eos], skip_special_tokens=True)
    traj = box.get("result") if isinstance(box.get("result"), Trajectory) else None
    yield MonitorResult(
        tokens=emitted,
        completion=traj.completion if traj is not None else text,
        crossing=mon.crossing,
        stopped=bool(mon.stop_requested and mon.guard == "stop"),
        steered_from=mon.steered_from,
        trajectory=traj,
    )


def _eos(model: LoadedModel) -> set[int]:
    return _eos_ids(model)


def _prompt_ids(model: LoadedModel, messages: list[Message], settings: GenerationSettings) -> list[int]:
    return _check_chat(model, messages, settings)


def monitor_generate(
    model: LoadedModel,
    messages: list[Message],
    probe: Probe | ContrastiveProbe,
    settings: GenerationSettings | None = None,
    *,
    threshold: float = 0.5,
    guard: Guard = "off",
    steering: tuple[SteeringVector, SteeringConfig] | None = None,
) -> Iterator[TokenScore | MonitorResult]:
    """Generate with per-token probe scores; yields ``TokenScore``s (prompt tokens first), then a
    ``MonitorResult``."""
    settings = settings or GenerationSettings()
    mon = ProbeMonitor(model, probe, threshold=threshold, guard=guard, steering=steering)
    prompt = _prompt_ids(model, messages, settings)
    if model.is_remote:  # the loop runs on the server: score after the request (core.steer.monitor_remote)
        return monitor_remote(model, mon, messages, settings, keep_trajectory=False)
    return _stream(model, mon, prompt, lambda: _generate_monitored(model, mon, prompt, settings))


def monitor_capture(
    model: LoadedModel,
    messages: list[Message],
    probe: Probe | ContrastiveProbe,
    settings: GenerationSettings | None = None,
    *,
    threshold: float = 0.5,
    guard: Guard = "off",
    steering: tuple[SteeringVector, SteeringConfig] | None = None,
    template: str = "plain",
    layers: Sequence[int] | str | None = None,
    dtype: str = "float32",
) -> Iterator[TokenScore | MonitorResult]:
    """Like ``monitor_generate`` but through ``core.capture.tracing.capture``: the result carries the full
    trajectory."""
    if guard == "stop":
        raise InputError(
            "Guard mode 'stop' is not available while capturing a full trajectory; use guard 'steer' "
            "or monitor without capture."
        )
    settings = settings or GenerationSettings()
    mon = ProbeMonitor(model, probe, threshold=threshold, guard=guard, steering=steering)
    prompt = _prompt_ids(model, messages, settings)
    meta = {"monitor": {"layer": mon.layer, "threshold": threshold, "guard": guard}}
    if model.is_remote:
        return monitor_remote(
            model, mon, messages, settings, keep_trajectory=True, template=template, layers=layers,
            dtype=dtype,
        )  # fmt: skip
    return _stream(
        model,
        mon,
        prompt,
        lambda: capture(
            model,
            messages,
            settings,
            template=template,
            layers=layers,
            dtype=dtype,
            streamer=mon,
            interventions=[mon.intervention],
            steering_meta=meta if guard == "steer" else None,
        ),
    )


@dataclass
class MonitorSummary:
    """Per-token arrays of a finished run (for charts)."""

    positions: np.ndarray
    scores: np.ndarray
    texts: list[str] = field(default_factory=list)


def summarise(tokens: Sequence[TokenScore], generated_only: bool = True) -> MonitorSummary:
    sel = [t for t in tokens if t.generated or not generated_only]
    return MonitorSummary(
        np.array([t.position for t in sel]), np.array([t.score for t in sel]), [t.text for t in sel]
    )
