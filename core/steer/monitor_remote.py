"""The live monitor for a model that runs on NDIF: the same scores, after the request instead of during it.

Locally the monitor scores each forward's states inside the generation loop (a hook and a streamer in this
process). A remote model's loop runs on the server, so here one request generates and captures only the
probe's layer (the rest never crosses the network), and the probe scores every token's state on this machine.
Token ``t``'s score is still the probe's P(unsafe) of ``t``'s own state; the crossing is the first generated
token at or above the threshold. Guards act between tokens inside the loop, which needs this process in it:
on a remote model the monitor runs with guard ``off``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from core.capture.models import LoadedModel
from core.capture.tracing import capture, resolve_layers
from core.capture.trajectory import GenerationSettings, Message
from core.errors import InputError
from core.steer.monitor_records import MonitorResult, TokenScore


def monitor_remote(
    model: LoadedModel,
    mon: Any,
    messages: list[Message],
    settings: GenerationSettings,
    *,
    keep_trajectory: bool,
    template: str = "plain",
    layers: Iterable[int] | str | None = None,
    dtype: str = "float32",
) -> Iterator[Any]:
    """``TokenScore``s then a ``MonitorResult``, as ``core.steer.monitor.monitor_generate`` yields them."""
    import torch

    if mon.guard != "off":
        raise InputError(
            f"Guard mode {mon.guard!r} acts between tokens inside the generation loop, which runs on "
            f"{model.spec.where} for this model: monitor it with guard 'off', or load the model locally."
        )
    wanted = set(resolve_layers(model, layers)) if keep_trajectory else set()
    lay = sorted(wanted | {mon.layer})
    traj = capture(model, messages, settings, template=template, layers=lay, dtype=dtype)
    with torch.no_grad():
        scores = mon._score(torch.as_tensor(traj.layer(mon.layer), dtype=torch.float32)).tolist()
    n_prompt = traj.n_prompt_tokens
    crossing = next((p for p in range(n_prompt, len(scores)) if scores[p] >= mon.threshold), None)
    mon.crossing = crossing
    tokens = [
        TokenScore(
            position=p,
            token_id=int(traj.token_ids[p]),
            text=traj.tokens[p],
            score=float(scores[p]),
            generated=p >= n_prompt,
            crossed=p == crossing,
            steering=False,
        )
        for p in range(len(scores))
    ]
    yield from tokens
    yield MonitorResult(
        tokens=tokens,
        completion=traj.completion,
        crossing=crossing,
        stopped=False,
        steered_from=None,
        trajectory=traj if keep_trajectory else None,
    )
