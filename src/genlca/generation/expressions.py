"""Procedural facial expressions for animations, on body models that have named face units (Anny's 52
ARKit-named units: `body.expression_names`).

    weights = expression_weights("talk", frames=48, fps=24, names=body.expression_names)   # (48, 52)

Each expression is a few face units with a weight and a time course: it eases in over EASE_S seconds and
holds (smile, surprise, frown), opens and closes the jaw at a speaking rate (talk), or blinks every
BLINK_PERIOD_S seconds (blink).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

EASE_S = 0.4  # seconds for a held expression to reach full weight
BLINK_PERIOD_S = 1.6
BLINK_S = 0.2  # eyelids closed and open again within this

EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile": {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "cheekSquintLeft": 0.5, "cheekSquintRight": 0.5,
              "eyeSquintLeft": 0.2, "eyeSquintRight": 0.2},
    "surprise": {"browInnerUp": 0.9, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8, "eyeWideLeft": 0.7,
                 "eyeWideRight": 0.7, "jawOpen": 0.45},
    "frown": {"browDownLeft": 0.8, "browDownRight": 0.8, "mouthFrownLeft": 0.8, "mouthFrownRight": 0.8,
              "noseSneerLeft": 0.3, "noseSneerRight": 0.3},
    "talk": {"jawOpen": 0.5, "mouthFunnel": 0.2},
    "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
}


def _time_course(name: str, t: Tensor) -> Tensor:
    """(F,) weight in [0, 1] of the expression at times t (seconds)."""
    if name == "talk":  # syllables at ~4 Hz, louder and softer over ~1 s
        return (0.5 - 0.5 * torch.cos(2 * math.pi * 4.0 * t)) * (0.7 + 0.3 * torch.sin(2 * math.pi * 0.9 * t))
    if name == "blink":  # a raised-cosine pulse of BLINK_S at the middle of every period
        phase = (t % BLINK_PERIOD_S) - BLINK_PERIOD_S / 2
        return torch.where(phase.abs() < BLINK_S / 2, 0.5 + 0.5 * torch.cos(2 * math.pi * phase / BLINK_S),
                           torch.zeros_like(t))
    x = (t / EASE_S).clamp(0, 1)
    return x * x * (3 - 2 * x)  # smoothstep ease-in, then hold


def expression_weights(name: str, frames: int, fps: float, names: tuple[str, ...] | list[str]) -> Tensor:
    """(frames, len(names)) face-unit weights of a procedural expression; `names`: the body model's units."""
    if name not in EXPRESSIONS:
        raise ValueError(f"unknown expression {name!r}; choose one of {', '.join(EXPRESSIONS)}")
    if not names:
        raise ValueError("this body model has no named face units (Anny has 52; SMPL-X's expression "
                         "coefficients are unnamed), so it cannot make a named expression")
    missing = [u for u in EXPRESSIONS[name] if u not in names]
    if missing:
        raise ValueError(f"expression {name!r} needs face units {missing}, which the body model lacks")
    t = torch.arange(frames, dtype=torch.float32) / fps
    course = _time_course(name, t)
    out = torch.zeros(frames, len(names))
    for unit, weight in EXPRESSIONS[name].items():
        out[:, list(names).index(unit)] = weight * course
    return out


__all__ = ["EXPRESSIONS", "expression_weights"]
