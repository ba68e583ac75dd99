"""What the live monitor yields: one ``TokenScore`` per token, then a ``MonitorResult``."""

from __future__ import annotations

from dataclasses import dataclass

from core.capture.trajectory import Trajectory


@dataclass(frozen=True, kw_only=True)
class TokenScore:
    position: int  # absolute token index in prompt + completion
    token_id: int
    text: str
    score: float  # probe P(unsafe) of this token's state
    generated: bool
    crossed: bool  # this is the threshold crossing (first generated token with score >= threshold)
    steering: bool  # guard steering was on when this token's state was computed


@dataclass(kw_only=True)
class MonitorResult:
    tokens: list[TokenScore]
    completion: str
    crossing: int | None  # absolute position of the crossing token
    stopped: bool  # guard "stop" ended generation early
    steered_from: int | None  # first position computed with guard steering on
    trajectory: Trajectory | None = None

    @property
    def generated(self) -> list[TokenScore]:
        return [t for t in self.tokens if t.generated]

    @property
    def max_score(self) -> float:
        g = self.generated
        return max((t.score for t in g), default=float("nan"))
