"""Generation as one nnsight block: the path a remote (NDIF) model generates through.

The local path (``core.capture.tracing._generate_rows``) steers with forward hooks on the weights it holds;
a remote model has no weights here, so the same interventions run inside ``lm.generate`` instead, at every
forward of the decoding loop, with the position context the hooks would have given them. Only the token ids
come back; states are captured afterwards by one traced pass over prompt + completion (``trace_hidden``),
which saves only the layers asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.capture.context import Intervention, InterventionContext
from core.capture.remote import quiet_dangling_warnings


def generate_traced(
    model: Any,
    ids: Any,
    mask: Any,
    *,
    generate_kwargs: dict[str, Any],
    seed: int,
    interventions: Sequence[Intervention] | None = None,
) -> Any:
    """Token ids ``[batch, width + n_new]`` of a left-padded batch, interventions applied at every step."""
    import torch

    fns = list(interventions or [])
    width = int(ids.shape[1])
    embed = model.embed_envoy()
    envoys = model.layer_envoys()
    kwargs = {"pad_token_id": model.tokenizer.pad_token_id, **generate_kwargs}
    with quiet_dangling_warnings():
        with model.lm.generate(**kwargs, **model.runner.trace_kwargs()) as tracer:
            with tracer.invoke(ids, attention_mask=mask):
                torch.manual_seed(seed)  # runs where the model runs: sampling is seeded there
                if fns:
                    # An open loop over every forward of the decoding loop (prefill = step 0). Nothing may
                    # follow it in this invoke (nnsight stops it at the step that never comes), hence the
                    # second invoke for the result.
                    for step in tracer.iter[:]:
                        offset = 0 if step == 0 else width + step - 1
                        ctx = InterventionContext(n_prompt=width, position_offset=offset)
                        h = embed.output
                        for f in fns:
                            h = f(0, h, ctx)
                        embed.output = h
                        for i, env in enumerate(envoys):  # plain loop: comprehensions miss the proxies
                            out = env.output
                            is_tuple = isinstance(out, tuple)
                            h = out[0] if is_tuple else out
                            for f in fns:
                                h = f(i + 1, h, ctx)
                            env.output = (h, *out[1:]) if is_tuple else h
            with tracer.invoke():
                seqs = tracer.result.save()
    return seqs
