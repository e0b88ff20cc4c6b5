"""Markdown previews for asset metadata (images inline, so the UI shows them)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def image_markdown(image: np.ndarray | Image.Image | str, max_width: int = 768, alt: str = "preview") -> str:
    im = Image.open(image) if isinstance(image, str) else image
    if isinstance(im, np.ndarray):
        im = Image.fromarray(im)
    if im.width > max_width:
        im = im.resize((max_width, round(im.height * max_width / im.width)))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="PNG")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"
