"""The evaluation report of a checkpoint: what evaluators open after training (`genlca evaluate report`, the
`evaluation_report` asset). One self-contained HTML page + report.json in OUT_DIR:

- samples: avatars generated from the token dataset's captions (validation split first), each from two sides;
- metrics: token-space Frechet distance of the samples against the data set's tokens (always), FID / KID of
  their renders against renders of the data set's avatars (when the Inception weights exist; else the reason);
- held-out metrics on the validation split (genlca.eval.held_out): the completion error per body region (a UV heat
  map and a bar chart: regions.png) and PSNR / SSIM / LPIPS of image-conditioned reconstructions against ground
  truth where a synthetic drop kept it, else against the held-out tokens (reconstruction.png); these are what
  production promotion compares, under the same `protocol` hash;
- the checkpoint's lineage (data version, code, config, parent, metric deltas: genlca.eval.lineage), as
  lineage.html beside the report;
- the ablation's table, when an ablation report (JSON) is given.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import time
from pathlib import Path

import torch

from genlca.eval.held_out import RECONSTRUCTION_PNG, REGIONS_PNG
from genlca.io_utils import atomic_path

REPORT_HTML, REPORT_JSON, SAMPLES_PNG, LINEAGE_HTML = "report.html", "report.json", "samples.png", "lineage.html"


def dataset_tokens(dataset_dir: str | os.PathLike, limit: int | None = None) -> tuple[list, str]:
    """(token files of the data set, validation split first, then train, at most `limit`; the splits used): a
    Gaussian fit for the Frechet distance needs more avatars than a small validation split holds."""
    import pandas as pd

    from genlca.tokenizer.dataset import read_token_index
    from genlca.tokenizer.tokens import load_tokens

    folder = Path(dataset_dir)
    index = read_token_index(folder)
    rows = pd.concat([index[index["split"] == "val"], index[index["split"] != "val"]])
    rows = rows if limit is None else rows.head(limit)
    return [load_tokens(folder / p) for p in rows["path"]], "+".join(dict.fromkeys(rows["split"]))


def _renders(tokens: list, body, views: int, size: int) -> list:
    from genlca.avatar import to_gaussians
    from genlca.body.uv_layout import uv_layout
    from genlca.render.views import render_views

    layout = uv_layout(body, tokens[0].maps.shape[-1])
    out = []
    for t in tokens:
        out += render_views(to_gaussians(t.avatar(), body, layout, pose={}), views, size)
    return out


def _value(r: dict) -> str:
    return f"{r['value']:.4g}" if "value" in r else f"skipped: {r.get('skipped', '')}"


def _metric_rows(metrics: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{html.escape(_value(r))}</td>"
                   f"<td>{html.escape(str(r.get('note', '')))}</td></tr>" for name, r in metrics.items())
    return f"<table><tr><th>metric</th><th>value</th><th>about</th></tr>{rows}</table>"


def _region_rows(regions: dict) -> str:
    if not regions:
        return "<p>no held-out avatar</p>"
    keys = ("token_rmse", "baseline_token_rmse", "rgb_rmse", "texels", "avatars")
    head = "<tr><th>region</th>" + "".join(f"<th>{k}</th>" for k in keys) + "</tr>"
    body = "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{r[k]:.4g}</td>" for k in keys) + "</tr>"
                   for name, r in regions.items())
    return f"<table>{head}{body}</table>"


def _picture(out: Path, name: str | None, alt: str) -> str:
    """Inline (the page stays self-contained) and linked to the file beside the report."""
    from genlca.eval.lineage import png_data_uri

    if not name or not (out / name).is_file():
        return f"<p>no {alt} picture (matplotlib missing or nothing to show)</p>"
    return f'<a href="{name}"><img src="{png_data_uri((out / name).read_bytes())}" alt="{alt}"></a>'


def _ablation_rows(ablation: dict) -> str:
    methods = ablation.get("methods", {})
    if not methods:
        return "<p>no ablation report given</p>"
    keys = sorted({k for m in methods.values() for k in m.get("mean", {})})
    head = "<tr><th>method</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "</tr>"
    body = ""
    for name, m in methods.items():
        cells = "".join(f"<td>{m['mean'][k]:.4g} ± {m.get('std', {}).get(k, float('nan')):.2g}</td>"
                        if k in m.get("mean", {}) else "<td></td>" for k in keys)
        body += f"<tr><td>{html.escape(name)}</td>{cells}</tr>"
    return f"<table>{head}{body}</table>"


def evaluation_report(checkpoint: str | os.PathLike, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      samples: int = 8, steps: int = 20, views: int = 2, size: int = 128,
                      ablation_json: str | os.PathLike | None = None, seed: int = 0, reference_limit: int = 64,
                      held_out=None, drops_dir: str | os.PathLike | None = None, image_config=None) -> dict:
    """Write OUT_DIR/report.html, report.json, samples.png, regions.png and reconstruction.png for a checkpoint;
    returns the report dict. held_out: a `HeldOutConfig` (default: its defaults at this `views`, `size`, `seed`);
    drops_dir: where the token dataset's drops lie (their ground truth, when kept, is the reconstruction reference);
    image_config: an `ImageMetricConfig` (where LPIPS / Inception weights are)."""
    from genlca.body import body_model_named
    from genlca.eval.held_out import HeldOutConfig, held_out_evaluation
    from genlca.eval.image_metrics import fid_kid, metric_availability
    from genlca.eval.lineage import collect_lineage, write_lineage_html
    from genlca.eval.metrics import frechet_distance, token_features
    from genlca.generation.generator import AvatarGenerator, SamplerOptions
    from genlca.generation.sheet import contact_sheet

    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = AvatarGenerator(checkpoint)
    body = body_model_named(gen.body_model)
    reference, split = dataset_tokens(dataset_dir, reference_limit)
    if not reference:
        raise ValueError(f"{dataset_dir}: no token files to compare with")
    captions = [reference[i % len(reference)].meta.get("caption", "") if gen.has_text else "" for i in range(samples)]
    generated = gen.from_text(captions, SamplerOptions(steps=steps, seed=seed))
    contact_sheet(generated, [c or "(unconditional)" for c in captions], out / SAMPLES_PNG, size=size, views=views,
                  body=body)

    metrics: dict[str, dict] = {}
    chart = gen.chart
    norm = gen.normalizer
    feats = [token_features(norm.normalize(torch.stack([t.maps.float() for t in ts])) * chart, chart)
             for ts in (generated, reference)]
    try:
        metrics["token_frechet"] = {"value": frechet_distance(feats[1], feats[0]),
                                    "n_generated": len(generated), "n_reference": len(reference)}
    except ValueError as e:
        metrics["token_frechet"] = {"skipped": str(e)}
    fid_status = metric_availability()["fid"]
    if fid_status["available"]:  # rendering only when the metric can run
        metrics |= fid_kid(_renders(generated, body, views, size), _renders(reference, body, views, size))
    else:
        metrics |= {"fid": {"skipped": fid_status["reason"]}, "kid": {"skipped": fid_status["reason"]}}
    t_samples = time.time() - t0
    held_out = held_out or HeldOutConfig(views=views, size=size, seed=seed)
    ho = held_out_evaluation(gen, dataset_dir, out, body, held_out, drops_dir, image_config)
    metrics |= ho["metrics"]
    settings = {"samples": samples, "steps": steps, "views": views, "size": size, "seed": seed,
                "reference_limit": reference_limit, "held_out": ho["protocol"]["hash"]}
    protocol = {"settings": settings | {"held_out": ho["protocol"]["settings"]},
                "hash": hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]}

    ckpt_dir = Path(checkpoint)
    lineage = collect_lineage([ckpt_dir], skip_missing=True)
    if lineage:
        write_lineage_html(lineage, out / LINEAGE_HTML)
    ablation = json.loads(Path(ablation_json).read_text()) if ablation_json else {}
    meta = gen.meta
    report = {"checkpoint": str(ckpt_dir), "weights": str(meta.get("weights_sha256", ""))[:16],
              "step": meta.get("step"), "dataset": str(dataset_dir), "reference_split": split,
              "data_version": meta.get("lineage", {}).get("token_dataset", {}).get("version", ""),
              "git_commit": meta.get("lineage", {}).get("git_commit", ""), "config_hash": meta.get("config_hash"),
              "samples": samples, "captions": captions, "metrics": metrics,
              "ablation": {m: v.get("mean") for m, v in ablation.get("methods", {}).items()},
              "lineage_checkpoints": len(lineage), "protocol": protocol,
              "held_out": {k: ho[k] for k in ("regions", "reconstruction", "pictures")},
              "seconds": round(time.time() - t0, 1),
              "timings": {"samples_s": round(t_samples, 1), "held_out_s": round(time.time() - t0 - t_samples, 1)}}
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>GenLCA evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px}}</style></head><body>
<h1>Evaluation of checkpoint {html.escape(report['weights'])} (step {report['step']})</h1>
<p>data version {html.escape(report['data_version'][:16])}, git {html.escape(str(report['git_commit']))},
config {html.escape(str(report['config_hash']))}; reference: {len(reference)} avatars ({split} split)</p>
<h2>Metrics</h2>{_metric_rows(metrics)}
<h2>Samples</h2>{_picture(out, SAMPLES_PNG, "samples")}
<h2>Held-out completion per region</h2>
<p>Each body region of the validation avatars ({ho['metrics']['region_error'].get('avatars', 0)}) hidden in turn
and completed by the checkpoint ({held_out.steps} {held_out.method} steps); error on the hidden texels the tokenizer
saw, in the checkpoint's normalized token space (grey: never hidden and seen). Baseline: the data set's mean token;
a sample that ignores the rest of the avatar scores about 1.4 x the baseline, one that predicts the region from it
below.</p>
{_picture(out, ho['pictures'].get('regions'), 'per-region error')}{_region_rows(ho['regions'])}
<h2>Image-conditioned reconstruction</h2>
<p>Reference: {html.escape(_reference_text(ho['reconstruction']))}. One row per input (at most two): the
reference's views, then the completion's.</p>{_picture(out, ho['pictures'].get('reconstruction'), 'reconstruction')}
<h2>Lineage</h2>{f'<p>{len(lineage)} checkpoints: <a href="{LINEAGE_HTML}">{LINEAGE_HTML}</a></p>' if lineage
                  else '<p>no lineage</p>'}
<h2>Ablation</h2>{_ablation_rows(ablation)}
</body></html>"""
    with atomic_path(out / REPORT_HTML) as tmp:
        tmp.write_text(page)
    with atomic_path(out / REPORT_JSON) as tmp:
        tmp.write_text(json.dumps(report, indent=1, default=float) + "\n")
    return report


def _reference_text(recon: dict) -> str:
    inputs = ", ".join(recon.get("inputs", []))
    return {"ground_truth": f"ground truth of synthetic photos ({inputs})",
            "held_out_tokens": f"no ground truth: the held-out tokens ({inputs}), region-hidden completions scored "
                               f"on the hidden texels the tokenizer saw"}.get(recon.get("reference"), "none")


def report_markdown(report: dict) -> str:
    """The metric table for Dagster metadata."""
    lines = ["| metric | value | about |", "|---|---|---|"]
    for name, r in report["metrics"].items():
        lines.append(f"| {name} | {_value(r)} | {r.get('note', '')} |".replace("\n", " "))
    return "\n".join(lines)


__all__ = ["RECONSTRUCTION_PNG", "REGIONS_PNG", "REPORT_HTML", "REPORT_JSON", "SAMPLES_PNG", "dataset_tokens",
           "evaluation_report", "report_markdown"]
