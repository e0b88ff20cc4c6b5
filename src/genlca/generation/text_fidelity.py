"""Text fidelity: do generated avatars wear the colours their prompts name? (protocol: evaluation/text_fidelity.md)

    report = evaluate_text_fidelity("runs/genlca", TextFidelityConfig(prompts=100))

Held-out prompts are the captions of synthetic subjects drawn with another seed than the training subjects
(`genlca synth-subjects`, `subject_tokens.draw_subjects`); their specs are the truth. One avatar is generated
per prompt, the captioner (genlca.tokenizer.captions) reads its colours per region, and each region's reading
is scored against the prompt's subject (`caption_scores`). A case is one (prompt, region): it matches when
the captioner named every colour of the region right (a pattern's two colours in either order); a region the
captioner cannot read counts as a miss. Two references come with each report:
- ceiling: the same prompts' TRUE avatars read by the same captioner (what a perfect generator scores);
- shuffled: the generated avatars scored against the next prompt's subject (what a generator scores that
  ignores the text but draws plausible outfits).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

from genlca.data.synth.vocab import REGIONS
from genlca.tokenizer.captions import ALBEDO, DELIT, MIN_TEXELS, Lighting, caption_scores, caption_tokens, lighting_for

TARGET = 0.85  # share of (prompt, region) cases whose colours must match (issue 7)
HELD_OUT_SEED = 1000  # `genlca synth-subjects` trains on seed 0 by default
LIGHTS = {"albedo": ALBEDO, "delit": DELIT}
SHEET_AVATARS = 8  # generated avatars on the contact sheet


@dataclass
class TextFidelityConfig:
    prompts: int = 100
    seed: int = HELD_OUT_SEED  # of the held-out subjects: must differ from the training subjects' seed
    steps: int = 30  # sampler steps
    method: str = "heun"
    cfg_text: float = 3.0
    sample_seed: int = 0  # noise of the generated avatars
    batch_size: int = 16  # prompts sampled at once
    light: str = "auto"  # auto | albedo | delit: how the captioner names the generated colours
    examples: int = 6  # prompts shown with their readings in the report
    references: bool = True  # also score the ceiling and the shuffled reference
    threads: int = 1  # torch intra-op threads (one is fastest on a shared CPU)

    def sampler(self):
        from genlca.generation.generator import SamplerOptions

        return SamplerOptions(steps=self.steps, method=self.method, cfg_text=self.cfg_text, seed=self.sample_seed,
                              batch=self.batch_size)


# ----------------------------------------------------------------------------- scoring (no model needed)
def min_texels_for(resolution: int) -> int:
    """The captioner's MIN_TEXELS is set for R = 128: the same body area at R holds (R / 128)² as many texels."""
    return max(8, round(MIN_TEXELS * (resolution / 128) ** 2))


def read_avatars(tokens: list, body, layout, light: Lighting, progress: bool = False) -> list[dict]:
    """The captioner's reading (`caption_tokens`) of each avatar, colours named under `light`."""
    from tqdm import tqdm

    n = min_texels_for(layout.resolution)
    return [caption_tokens(t, body, layout, light, min_texels=n)
            for t in tqdm(tokens, desc="read", disable=not progress)]


def _words(region: dict) -> list[str]:
    return [c for c in (region.get("color"), region.get("color2")) if c]


def score_readings(readings: list[dict], subjects: list[dict]) -> dict:
    """Cases (prompt, region) matched and colour words right, overall and per region, of captioner
    readings ({'regions': ...} from `caption_tokens`) against subjects (subject.json-like dicts), pairwise.
    rows: per prompt {region: case}; a case holds the wanted and read colours and whether they match."""
    if len(readings) != len(subjects):
        raise ValueError(f"{len(readings)} readings for {len(subjects)} subjects")
    rows = []
    for reading, subject in zip(readings, subjects):
        scores = caption_scores(reading["regions"], subject)
        rows.append({r: _case(subject["clothing"][r], reading["regions"].get(r) or {}, scores.get(r))
                     for r in REGIONS if r in subject["clothing"]})
    by_region = {r: _summary([row[r] for row in rows if r in row]) for r in REGIONS if any(r in row for row in rows)}
    return {"overall": _summary([case for row in rows for case in row.values()]), "by_region": by_region,
            "rows": rows}


def _case(truth: dict, got: dict, score: tuple[int, int] | None) -> dict:
    right, scored = score or (0, 0)
    return {"want": _words(truth), "got": _words(got), "match": score is not None and right == scored,
            "right": right, "scored": scored, "rgb": got.get("rgb")}


def _summary(cases: list[dict]) -> dict:
    """Shares over cases; unread regions count as misses in match_rate and are left out of word_accuracy.
    The pattern columns tell the two ways a pattern goes wrong: a patterned prompt read as one colour, a solid
    one read as two."""
    patterned = [c for c in cases if len(c["want"]) == 2]
    n = {"cases": len(cases), "matched": sum(c["match"] for c in cases), "read": sum(bool(c["got"]) for c in cases),
         "words_right": sum(c["right"] for c in cases), "words": sum(c["scored"] for c in cases),
         "patterned_cases": len(patterned), "patterned_matched": sum(c["match"] for c in patterned),
         "patterned_read_solid": sum(len(c["got"]) == 1 for c in patterned),
         "solid_read_patterned": sum(len(c["want"]) == 1 and len(c["got"]) == 2 for c in cases)}
    share = lambda a, b: round(a / b, 4) if b else float("nan")  # noqa: E731
    solid = n["cases"] - n["patterned_cases"]
    return {"match_rate": share(n["matched"], n["cases"]), "word_accuracy": share(n["words_right"], n["words"]),
            "read_share": share(n["read"], n["cases"]),
            "solid_match_rate": share(n["matched"] - n["patterned_matched"], solid),
            "patterned_match_rate": share(n["patterned_matched"], n["patterned_cases"]), **n}


def shuffled(subjects: list) -> list:
    """Each prompt's subject replaced by the next one's: the reference of a generator that ignores the text."""
    return subjects[1:] + subjects[:1]


# ----------------------------------------------------------------------------- generation
def lighting_of(meta: dict, dataset: str | os.PathLike | None = None, light: str = "auto") -> tuple[Lighting, str]:
    """(profile, why) for naming the colours a checkpoint generates: those of the tokens it was trained on.
    checkpoint.json records the tokenizers of its training tokens (older ones do not: then the token dataset's
    index says)."""
    if light != "auto":
        if light not in LIGHTS:
            raise ValueError(f"light must be auto or one of {', '.join(LIGHTS)}, got {light!r}")
        return LIGHTS[light], "given"
    lineage = meta.get("lineage") or {}
    names = meta.get("tokenizers") or lineage.get("tokenizers") or (
        [lineage["tokenizer"]] if "tokenizer" in lineage else [])
    why = "checkpoint"
    if not names and dataset is not None:
        from genlca.tokenizer.dataset import read_token_index

        names, why = list(read_token_index(dataset)["tokenizer"]), f"token dataset {dataset}"
    if not names:
        return ALBEDO, "not recorded: assumed albedo (give the token dataset or the light)"
    profiles = [lighting_for(n) for n in names]
    best = max(set(profiles), key=profiles.count, default=ALBEDO)
    return best, f"{why}: tokenizer {', '.join(sorted(set(names))[:3])}" + (
        f" ({best.name}: the majority)" if len(set(profiles)) > 1 else "")


def generate_avatars(gen, prompts: list[str], opts, progress: bool = False) -> list:
    """AvatarTokens per prompt from one loaded model (an `AvatarGenerator`), opts.batch prompts per model call."""
    if not gen.has_text:
        raise ValueError(f"{gen.checkpoint}: trained without text conditioning; text fidelity needs a text model")
    return gen.from_text(prompts, opts, progress=progress)


# ----------------------------------------------------------------------------- the evaluation
def _training_captions(dataset: str | os.PathLike | None) -> set[str] | None:
    if dataset is None:
        return None
    from genlca.tokenizer.dataset import read_token_index

    index = read_token_index(dataset)
    return set(index.loc[index["split"] == "train", "caption"])


def evaluate_text_fidelity(checkpoint: str | os.PathLike, cfg: TextFidelityConfig | None = None,
                           dataset: str | os.PathLike | None = None, contact_sheet: str | os.PathLike | None = None,
                           text_encoder=None, progress: bool = False, log=None) -> dict:
    """The report (module docstring): generate one avatar per held-out prompt, read and score it; the ceiling
    and shuffled references; examples; timings. `dataset`: the token dataset the checkpoint was trained on
    (for the lighting profile and to count prompts that were training captions). `contact_sheet`: a PNG of
    the first generated avatars with their prompts."""
    from genlca.body import body_model_named
    from genlca.body.uv_layout import uv_layout
    from genlca.data.synth.subject_tokens import draw_subjects, subject_record, subject_tokens
    from genlca.generation.generator import AvatarGenerator
    from genlca.threads import torch_threads

    cfg, log = cfg or TextFidelityConfig(), log or (lambda *_: None)
    t0 = time.time()
    with torch_threads(cfg.threads or None):
        gen = AvatarGenerator(checkpoint, text_encoder=text_encoder)
        meta = gen.meta
        light, why = lighting_of(meta, dataset, cfg.light)
        body = body_model_named(meta.get("body_model", "anny"))
        layout = uv_layout(body, int(meta["resolution"]))
        subjects = draw_subjects(body, cfg.prompts, cfg.seed)
        prompts = [s.caption for s in subjects]
        truth = [subject_record(s, body) for s in subjects]
        log(f"{len(prompts)} held-out prompts (seed {cfg.seed}); colours named as {light.name} ({why})")
        t1 = time.time()
        generated = generate_avatars(gen, prompts, cfg.sampler(), progress)
        t2 = time.time()
        readings = read_avatars(generated, body, layout, light, progress)
        t3 = time.time()
        scores = score_readings(readings, truth)
        report = {
            "checkpoint": str(checkpoint), "step": meta.get("step"), "model": meta.get("train", {}).get("model"),
            "resolution": layout.resolution, "config": asdict(cfg), "light": light.name, "light_source": why,
            "min_texels": min_texels_for(layout.resolution), "prompts": len(prompts), "target": TARGET,
            "overall": scores["overall"], "by_region": scores["by_region"],
            "passes": bool(scores["overall"]["match_rate"] >= TARGET),
            "regions_passing": [r for r, v in scores["by_region"].items() if v["match_rate"] >= TARGET],
        }
        seen = _training_captions(dataset)
        if seen is not None:
            report["prompts_in_training"] = sum(p in seen for p in prompts)
        if cfg.references:
            report["shuffled"] = _references(score_readings(readings, shuffled(truth)))
            true_tokens = [subject_tokens(body, layout, s) for s in subjects]
            report["ceiling"] = _references(score_readings(read_avatars(true_tokens, body, layout, ALBEDO), truth))
        t4 = time.time()
        if contact_sheet:
            from genlca.generation.sheet import contact_sheet as write_sheet

            write_sheet(generated[:SHEET_AVATARS], prompts[:SHEET_AVATARS], contact_sheet, columns=4, body=body)
            report["contact_sheet"] = str(contact_sheet)
        report["rows"] = [{"prompt": p, "reading": r["caption"], "regions": row}
                          for p, r, row in zip(prompts, readings, scores["rows"])]
        report["examples"] = report["rows"][:cfg.examples]
        report["timings"] = {"generate_s": round(t2 - t1, 2), "per_prompt_s": round((t2 - t1) / len(prompts), 3),
                             "read_s": round(t3 - t2, 2), "references_s": round(t4 - t3, 2),
                             "total_s": round(time.time() - t0, 2)}
    return report


def _references(scores: dict) -> dict:
    return {"overall": scores["overall"], "by_region": scores["by_region"]}


# ----------------------------------------------------------------------------- pictures and tables
def report_table(report: dict):
    """A rich Table: per region, the generated avatars' match rate and word accuracy, with the references."""
    from rich.table import Table

    refs = report.get("ceiling") is not None
    title = (f"text fidelity: {report['prompts']} held-out prompts, step {report['step']}, "
             f"cfg {report['config']['cfg_text']}, {report['config']['steps']} steps (target {TARGET:.0%})")
    t = Table("region", "matched", "solid", "patterned", "words right", *(["ceiling", "shuffled"] if refs else []),
              title=title)
    pct = lambda v: "-" if v != v else f"{v:.1%}"  # noqa: E731
    for region in [*report["by_region"], "overall"]:
        v = report["overall"] if region == "overall" else report["by_region"][region]
        row = [region, f"{pct(v['match_rate'])} ({v['matched']}/{v['cases']})", pct(v["solid_match_rate"]),
               pct(v["patterned_match_rate"]), pct(v["word_accuracy"])]
        for k in ("ceiling", "shuffled") if refs else ():
            ref = report[k]["overall"] if region == "overall" else report[k]["by_region"].get(region)
            row.append(pct(ref["match_rate"]) if ref else "-")
        t.add_row(*row)
    return t


__all__ = ["HELD_OUT_SEED", "TARGET", "TextFidelityConfig", "evaluate_text_fidelity", "generate_avatars",
           "lighting_of", "min_texels_for", "read_avatars", "report_table", "score_readings", "shuffled"]
