"""`write_subject_tokens`: a token folder of synthetic subjects' TRUE avatars, without rendering any video.

The synthetic drops render videos so that a tokenizer has something to read; a text-conditioned model only
needs (tokens, caption) pairs. Here each subject's ground-truth avatar (template maps, rgb = clothing albedo:
`generator.subject_avatar`) is written as an `AvatarTokens` file, seen everywhere on the UV chart, so one
subject costs a fraction of a second instead of a rendered video. The folder is a token folder like
`genlca tokenize` writes, so `build_token_dataset({name: OUT}, DATASET)` and `genlca train DATASET` take it:

    OUT/subj_00000.safetensors ...  AvatarTokens: true maps, visibility 1 and count 1 on the chart (0 outside);
                                    meta: caption, tokenizer (TOKENIZER: captions name its colours as albedo),
                                    subject (as a drop's subject.json: shape, caption, clothing, regions), seed
    OUT/subjects.json               what was written (seed, resolution, names, captions), last

Subject i is drawn from `numpy.random.default_rng([seed, i])`: the same seed gives the same files, another
seed other subjects (held-out prompts: `genlca.generation.text_fidelity`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from genlca.body.protocol import BodyModel
from genlca.body.uv_layout import UVLayout
from genlca.data.synth.subject import Subject, sample_subject
from genlca.data.synth.vocab import REGIONS
from genlca.data.synth.writer import GT_FORMAT_VERSION, save_json
from genlca.io_utils import check_replaceable, staged_dir
from genlca.tokenizer.tokens import AvatarTokens, save_tokens

SUBJECTS_FILE = "subjects.json"
# meta["tokenizer"] of true-albedo tokens: not "unprojection", so lighting_for() names colours as ALBEDO.
TOKENIZER = "ground_truth_albedo"


def subject_name(index: int) -> str:
    return f"subj_{index:05d}"


def draw_subjects(body: BodyModel, n: int, seed: int) -> list[Subject]:
    """Subjects 0..n-1 of `seed` (each from its own generator: subject i does not depend on n)."""
    return [sample_subject(np.random.default_rng([seed, i]), body) for i in range(n)]


def subject_record(subject: Subject, body: BodyModel) -> dict:
    """What a drop's subject.json says about the subject (what `caption_scores` scores against)."""
    return {"format_version": GT_FORMAT_VERSION, "body_model": body.name, "shape": subject.shape_labels,
            "shape_vector": [float(x) for x in subject.shape], "caption": subject.caption,
            "clothing": subject.clothing.to_dict(), "regions": list(REGIONS)}


@torch.no_grad()
def subject_tokens(body: BodyModel, layout: UVLayout, subject: Subject, meta: dict | None = None) -> AvatarTokens:
    """The subject's true avatar as tokens seen on the whole chart (nothing unobserved, nothing outside)."""
    from genlca.data.synth.generator import subject_avatar

    avatar, _, _ = subject_avatar(body, layout, subject)
    chart = layout.mask.bool()
    info = {"caption": subject.caption, "tokenizer": TOKENIZER, "subject": subject_record(subject, body)}
    return AvatarTokens(maps=avatar.maps.float() * chart, visibility=chart.float(), count=chart.to(torch.int32),
                        shape=subject.shape.float().reshape(-1), body_model=body.name, meta=info | dict(meta or {}))


def _is_previous(out: Path) -> bool:
    return (out / SUBJECTS_FILE).is_file()


def _check_target(out: Path) -> None:
    check_replaceable(out, _is_previous, "subject-token folder")


def write_subject_tokens(out: str | os.PathLike, subjects: int = 1000, seed: int = 0, resolution: int = 64,
                         body: BodyModel | None = None, progress: bool = False) -> dict:
    """Write OUT (module docstring), all at once: readers never see a half-written folder.
    Returns subjects.json plus 'out' and 'seconds'."""
    from genlca.body import load_body_model
    from genlca.body.uv_layout import uv_layout

    if subjects < 1:
        raise ValueError(f"need at least one subject, got {subjects}")
    t0 = time.time()
    out = Path(out)
    _check_target(out)
    body = body or load_body_model()
    layout = uv_layout(body, resolution)
    with staged_dir(out) as tmp:
        names, captions = [], []
        for i, subject in enumerate(tqdm(draw_subjects(body, subjects, seed), desc="subject tokens",
                                         disable=not progress)):
            names.append(subject_name(i))
            captions.append(subject.caption)
            tokens = subject_tokens(body, layout, subject, {"seed": seed, "index": i})
            save_tokens(tokens, tmp / f"{names[-1]}.safetensors")
        summary = {"generator": "genlca.data.synth.subject_tokens", "format_version": GT_FORMAT_VERSION,
                   "tokenizer": TOKENIZER, "body_model": body.name, "resolution": resolution, "seed": seed,
                   "subjects": subjects, "names": names, "captions": captions}
        save_json(tmp / SUBJECTS_FILE, summary)  # last file: its presence marks a complete folder
        _check_target(out)  # still replaceable: nothing else was written there meanwhile
    return summary | {"out": str(out), "seconds": round(time.time() - t0, 2)}


__all__ = ["SUBJECTS_FILE", "TOKENIZER", "draw_subjects", "subject_name", "subject_record", "subject_tokens",
           "write_subject_tokens"]
