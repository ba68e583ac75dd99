"""Text and table helpers of the Steer page (pure: no Streamlit calls; tested in tests/unit/app)."""

from __future__ import annotations

from typing import Any

from core.steer.controls import concrete_layers


def describe_vector(vector: Any) -> str:
    """One markdown line about a steering vector: name, source, layers, default layer, norms of up to 8
    layers."""
    concrete = concrete_layers(vector)
    return (
        f"**{vector.name}** · source `{vector.source}` · layers {concrete or 'any'} · default layer "
        f"{vector.default_layer if vector.default_layer is not None else '—'} · norms "
        + ", ".join(f"L{k}: {n:.2f}" for k, n in list(vector.norms().items())[:8])
    )


def sweep_rows(points: list[Any]) -> list[dict[str, Any]]:
    """The sweep table: α, refusal rate, harmless KL and the start of the first completion per point."""
    return [
        {
            "α": p.alpha,
            "refusal rate": p.refusal_rate,
            "harmless KL": p.kl,
            "first completion": p.completions[0][:120],
        }
        for p in points
    ]


def sweep_series(points: list[Any]) -> tuple[list[float], list[float], list[float]]:
    """(alphas, refusal rates, KLs) of the sweep points, for ``sweep_figure``."""
    return [p.alpha for p in points], [p.refusal_rate for p in points], [p.kl for p in points]
