"""Plots written next to artifacts (training curves)."""

from __future__ import annotations

import os
from pathlib import Path

from genlca.io_utils import atomic_path


def loss_curve_png(losses: list[float], out: str | os.PathLike, ylabel: str = "L1 on seen texels",
                   title: str = "refiner training loss") -> Path | None:
    """The training loss per step as a PNG; None when matplotlib is not installed (it is optional)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: render to files only
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    steps = range(1, len(losses) + 1)
    ax.plot(steps, losses, lw=0.8, alpha=0.4, label="per step")
    smooth, ema = [], losses[0] if losses else 0.0
    for x in losses:  # batches of a few videos are noisy: the trend is what matters
        ema = 0.9 * ema + 0.1 * x
        smooth.append(ema)
    ax.plot(steps, smooth, lw=1.6, label="moving average")
    ax.legend(fontsize=8)
    ax.set(xlabel="step", ylabel=ylabel, yscale="log", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(out)


__all__ = ["loss_curve_png"]
