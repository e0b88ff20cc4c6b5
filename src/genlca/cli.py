"""The `genlca` command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="GenLCA-Ops: animatable 3D Gaussian avatars from in-the-wild videos.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
body_app = typer.Typer(help="Body models (Anny by default, SMPL-X from your files).", no_args_is_help=True)
avatar_app = typer.Typer(help="Avatar files (.ply).", no_args_is_help=True)
app.add_typer(body_app, name="body")
app.add_typer(avatar_app, name="avatar")
evaluate_app = typer.Typer(help="Evaluate stages against synthetic ground truth.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")
console = Console(stderr=True)

ModelOpt = typer.Option("anny", "--model", "-m", help="Body model: anny (default, offline) or smplx.")
SmplxDirOpt = typer.Option(None, "--smplx-dir", help="Folder with SMPLX_<GENDER>.npz (+ smplx_uv.obj).")
GenderOpt = typer.Option("neutral", "--gender", help="SMPL-X gender file to load.")
CheckpointOpt = typer.Option(None, "--checkpoint", "-c", help="GenLCA checkpoint folder (default: the one "
                             "`make demo` trains, $GENLCA_DATA/models/genlca).")


def _body_config(model: str, smplx_dir: Optional[Path], gender: str):
    from genlca.body import BodyConfig

    return BodyConfig(name=model, smplx_dir=str(smplx_dir) if smplx_dir else None, gender=gender)


def _fail(msg: str) -> None:
    console.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(code=2)


@body_app.command("info")
def body_info(model: str = ModelOpt, smplx_dir: Optional[Path] = SmplxDirOpt, gender: str = GenderOpt,
              resolution: int = typer.Option(128, help="UV grid resolution R for the texel count.")):
    """Print the body model's size, shape parameters, parts, UV charts and texel count."""
    from genlca.body import PART_NAMES, load_body_model
    from genlca.body.uv_layout import uv_layout

    try:
        body = load_body_model(_body_config(model, smplx_dir, gender))
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    layout = uv_layout(body, resolution)
    verts = body.template(body.default_shape())[0]
    t = Table(title=f"body model: {body.name}", show_header=False)
    t.add_row("vertices", str(body.num_vertices))
    t.add_row("faces", str(body.faces.shape[0]))
    t.add_row("UV coordinates", str(body.uv_coords.shape[0]))
    t.add_row("shape parameters", ", ".join(body.shape_labels))
    t.add_row("height (default shape)", f"{float(verts[:, 2].max() - verts[:, 2].min()):.3f} m")
    t.add_row("joints (generic)", str(len(body.joint_names)))
    t.add_row("keypoints", "COCO-17")
    counts = {p: int((layout.part == i).sum()) for i, p in enumerate(PART_NAMES)}
    t.add_row("body parts (texels)", ", ".join(f"{p} {n}" for p, n in counts.items()))
    t.add_row(f"Gaussians at R={resolution}", f"{layout.num_texels} ({layout.num_texels / resolution**2:.0%} of the grid)")
    Console().print(t)


@body_app.command("build-cache")
def body_build_cache():
    """Build Anny's model cache once (minutes the first time; instant afterwards)."""
    from genlca.body.anny_body import build_anny_cache
    from genlca.paths import anny_cache_dir

    t0 = time.time()
    console.print(f"Anny cache: {anny_cache_dir()} (first build takes a few minutes)")
    path = build_anny_cache()
    console.print(f"ready: {path} ({time.time() - t0:.1f} s)")


@avatar_app.command("template")
def avatar_template(out: Path = typer.Option(..., "--out", "-o", help="Output .ply"),
                    resolution: int = typer.Option(128, help="UV grid resolution R."),
                    model: str = ModelOpt, smplx_dir: Optional[Path] = SmplxDirOpt, gender: str = GenderOpt):
    """Write the body template as a Gaussian avatar, coloured by body part."""
    from genlca.showcase import write_template

    try:
        info = write_template(out, _body_config(model, smplx_dir, gender), resolution)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    console.print(f"wrote {info['path']}: {info['gaussians']} Gaussians ({info['body_model']}, R={resolution})")


@app.command("render")
def render_cmd(avatar: Path = typer.Argument(..., help="Avatar .ply (genlca or any 3DGS file) or token file "
                                             "(.safetensors from `genlca tokenize`)."),
               out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG with the views side by side."),
               views: int = typer.Option(4, help="Number of views around the avatar."),
               size: int = typer.Option(512, help="Image size in pixels."),
               turntable: Optional[Path] = typer.Option(None, help="Also write a turntable .mp4."),
               frames: int = typer.Option(48, help="Turntable frames."),
               pose: str = typer.Option("a-pose", help="canonical | a-pose | walk | wave (genlca avatars)."),
               backend: str = typer.Option("auto", help="auto | torch | gsplat (CUDA)."),
               mark_unseen: bool = typer.Option(False, "--mark-unseen", help="Token files: draw the texels no "
                                                "frame saw in magenta."),
               model: str = ModelOpt, smplx_dir: Optional[Path] = SmplxDirOpt, gender: str = GenderOpt):
    """Render an avatar from several sides (PNG) and/or as a turntable (MP4)."""
    from genlca.render.ply import PlyFormatError
    from genlca.showcase import RenderRequest, render_avatar

    if out is None and turntable is None:
        _fail("nothing to write: give --out OUT.png and/or --turntable OUT.mp4")
    if not avatar.is_file():
        _fail(f"{avatar}: no such file")
    t0 = time.time()
    req = RenderRequest(avatar=str(avatar), out=str(out) if out else None, views=views, size=size, pose=pose,
                        turntable=str(turntable) if turntable else None, frames=frames, backend=backend,
                        body=_body_config(model, smplx_dir, gender) if smplx_dir or model != "anny" else None,
                        mark_unseen=mark_unseen)
    try:
        info = render_avatar(req, progress=True)
    except (ValueError, PlyFormatError, RuntimeError) as e:
        _fail(str(e))
    for key in ("image", "turntable"):
        if key in info:
            console.print(f"wrote {info[key]}")
    console.print(f"{info['gaussians']} Gaussians, pose {info['pose']}, {time.time() - t0:.1f} s")


@app.command("synth")
def synth_cmd(out: Path = typer.Option(..., "--out", "-o", help="Drop folder to create."),
              videos: int = typer.Option(None, help="Number of videos (default: params.yaml synth.videos)."),
              frames: int = typer.Option(None, help="Frames per video."),
              size: int = typer.Option(None, help="Frame size in pixels (square)."),
              regime: str = typer.Option(None, help="mixed | full | partial (partial: no video shows the whole body)."),
              seed: int = typer.Option(None, help="Random seed: the same seed gives the same drop."),
              resolution: int = typer.Option(128, help="UV resolution R of the ground-truth avatar maps.")):
    """Synthesize an "in-the-wild" video drop of clothed Anny subjects, with ground truth kept aside."""
    from genlca.data.synth import generate_drop
    from genlca.params import stage_params

    p = stage_params("synth")
    given = dict(videos=videos, frames=frames, size=size, regime=regime, seed=seed)
    kw = {k: (v if v is not None else p[k]) for k, v in given.items()}
    if kw["regime"] not in ("mixed", "full", "partial"):
        _fail(f"unknown regime {kw['regime']!r}; choose mixed, full or partial")
    if out.exists() and any(out.iterdir()):
        _fail(f"{out}: already exists and is not empty; choose a new folder")
    t0 = time.time()
    info = generate_drop(out, progress=True, resolution=resolution, **kw)
    console.print(f"wrote {len(info['videos'])} videos to {out}/videos and their ground truth to {out}/ground_truth "
                  f"({time.time() - t0:.1f} s)")


@app.command("synth-subjects")
def synth_subjects_cmd(out: Path = typer.Option(..., "--out", "-o", help="Token folder to create."),
                       subjects: int = typer.Option(1000, help="Number of synthetic subjects."),
                       seed: int = typer.Option(0, help="Random seed: the same seed gives the same subjects "
                                                "(held-out prompts use another)."),
                       resolution: int = typer.Option(64, help="UV grid resolution R of the tokens.")):
    """Tokens of synthetic subjects' true avatars with their captions, no videos rendered: a token folder
    for `build_token_dataset` and a text-conditioned `genlca train`."""
    from genlca.data.synth.subject_tokens import write_subject_tokens

    try:
        info = write_subject_tokens(out, subjects, seed, resolution, progress=True)
    except (ValueError, FileExistsError) as e:
        _fail(str(e))
    console.print(f"wrote {info['subjects']} subject token files (R={resolution}, seed {seed}) to {out} "
                  f"({info['seconds']:.1f} s)")


@app.command("ingest")
def ingest_cmd(drop: Path = typer.Argument(..., help="Drop folder (videos: mp4 avi mov mkv webm; images: jpg png)."),
               out: Path = typer.Option(..., "--out", "-o", help="Manifest .parquet to write.")):
    """Probe, hash and validate every file of a drop; bad files are quarantined (listed with the
    reason, never moved or deleted). Exits 0 unless the drop itself cannot be read."""
    from genlca.data.ingest import DropError, IngestLimits, ingest_drop
    from genlca.data.manifest import write_manifest
    from genlca.params import stage_params

    try:
        df = ingest_drop(drop, limits=IngestLimits(**stage_params("ingest")), progress=True)
    except (DropError, ValueError) as e:  # ValueError: params.yaml's ingest settings (unknown key, bad value)
        _fail(str(e))
    write_manifest(df, out)
    valid = df[df["status"] == "valid"]
    bad = df[df["status"] != "valid"]
    console.print(f"{drop}: {len(df)} files, {len(valid)} valid "
                  f"({valid['duration_s'].sum():.1f} s of video), {len(bad)} quarantined -> {out}")
    if len(bad):
        t = Table("quarantined file", "reason", title="quarantine")
        for row in bad.itertuples():
            t.add_row(row.path, row.reason)
        Console().print(t)


@app.command("fit")
def fit_cmd(drop: Path = typer.Argument(..., help="Drop folder, or one photo (.jpg/.jpeg/.png)."),
            out: Path = typer.Option(..., "--out", "-o", help="Folder for the fits (<video>.safetensors + quality.parquet)."),
            max_frames: int = typer.Option(0, help="Fit at most this many frames per video (0 = all)."),
            model: str = ModelOpt, smplx_dir: Optional[Path] = SmplxDirOpt, gender: str = GenderOpt):
    """Detect the main person in every valid video of a drop (or in one photo) and fit the body model to it."""
    from genlca.body import load_body_model
    from genlca.data.ingest import DropError, IngestLimits, ingest_drop
    from genlca.data.video import IMAGE_EXTENSIONS
    from genlca.fitting.pipeline import fit_drop, fit_image
    from genlca.params import stage_params

    if drop.is_file() and drop.suffix.lower() in IMAGE_EXTENSIONS:
        try:
            body = load_body_model(_body_config(model, smplx_dir, gender))
            r = fit_image(drop, out, body)
        except (ValueError, FileNotFoundError) as e:
            _fail(str(e))
        console.print(f"fit -> {r.fit_file}\noverlay -> {r.overlay_file}\n"
                      f"median keypoint error {r.keypoint_error:.1%} of the person's height")
        return
    try:
        manifest = ingest_drop(drop, limits=IngestLimits(**stage_params("ingest")))
        body = load_body_model(_body_config(model, smplx_dir, gender))
    except (DropError, ValueError, FileNotFoundError) as e:
        _fail(str(e))
    result = fit_drop(drop, manifest, out, body, max_frames=max_frames or None, progress=True)
    t = Table("video", "frames", "fitted", "median reproj px", "seconds", "problem", title=f"body fits -> {out}")
    q = result.quality
    for v in result.videos:
        rows = q[(q["video"] == v["video"]) & q["fitted"]]
        err = f"{rows['reproj_error_px'].median():.1f}" if len(rows) else "-"
        t.add_row(v["video"], str(v["frames"]), f"{v['fitted_share']:.0%}", err, f"{v['seconds']:.1f}", v["error"])
    Console().print(t)
    console.print(f"{len(result.videos)} videos, {result.seconds:.1f} s")


@app.command("tokenize")
def tokenize_cmd(drop: Path = typer.Argument(..., help="Drop folder (the videos the fits are of)."),
                 fits: Path = typer.Option(..., "--fits", help="Fits folder written by `genlca fit`."),
                 out: Path = typer.Option(..., "--out", "-o", help="Folder for the tokens (<video>.safetensors)."),
                 tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="Trained refiner folder "
                                                          "(`genlca train-tokenizer`); without: unprojection only."),
                 resolution: int = typer.Option(128, help="UV grid resolution R (a trained refiner's own wins)."),
                 model: str = ModelOpt, smplx_dir: Optional[Path] = SmplxDirOpt, gender: str = GenderOpt):
    """UV Gaussian tokens + per-texel visibility for every fitted video of a drop."""
    import json

    from genlca.body import load_body_model
    from genlca.body.uv_layout import uv_layout
    from genlca.tokenizer.pipeline import tokenize_drop
    from genlca.tokenizer.train import CONFIG_FILE, load_refiner

    try:
        body = load_body_model(_body_config(model, smplx_dir, gender))
        refiner = load_refiner(tokenizer) if tokenizer else None
        if tokenizer:
            resolution = int(json.loads((tokenizer / CONFIG_FILE).read_text())["resolution"])
        rows = tokenize_drop(drop, fits, out, body, uv_layout(body, resolution), refiner,
                             tokenizer_name=str(tokenizer or ""), progress=True)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    t = Table("video", "frames", "texels seen", "mean visibility", "seconds", "problem", title=f"tokens -> {out}")
    for r in rows:
        t.add_row(r["video"], str(r["frames"]), f"{r['seen_share']:.0%}", f"{r['visibility_mean']:.2f}",
                  f"{r['seconds']:.1f}", r["error"])
    Console().print(t)


@app.command("train-tokenizer")
def train_tokenizer_cmd(drops: list[Path] = typer.Argument(..., help="Synthetic training drops (with ground truth)."),
                        val: list[Path] = typer.Option([], "--val", help="Held-out synthetic drops."),
                        out: Path = typer.Option(..., "--out", "-o", help="Folder for model.safetensors, config.json, "
                                                 "metrics.json."),
                        size: str = typer.Option("small", help="Refiner size: tiny, small or base."),
                        steps: int = typer.Option(300), batch_size: int = typer.Option(4),
                        lr: float = typer.Option(2e-3), resolution: int = typer.Option(128),
                        photos_per_video: int = typer.Option(0, help="Also train on this many one-frame examples "
                                                             "per video (photos: `generate --image`)."),
                        loss_weight: str = typer.Option("texel", help="UV loss weights: texel (all alike) or area "
                                                        "(as renders show them)."),
                        render_weight: float = typer.Option(1.0, help="Weight of the rendering loss against the "
                                                            "frames (0: off; on: +0.4 dB, 1.3x the time)."),
                        render_frames: int = typer.Option(4, help="Frames per video kept for the rendering loss."),
                        seed: int = typer.Option(0)):
    """Train the tokenizer's refinement network on synthetic drops (true fits and masks)."""
    from genlca.body import load_body_model
    from genlca.body.uv_layout import uv_layout
    from genlca.tokenizer.train import check_loss_options, examples_from_drop, train_refiner

    body = load_body_model()
    layout = uv_layout(body, resolution)
    try:
        check_loss_options(loss_weight, render_weight)
        frames = render_frames if render_weight else 0
        train = [e for d in drops for e in examples_from_drop(d, body, layout, True, photos_per_video, frames)]
        held = [e for d in val for e in examples_from_drop(d, body, layout, progress=True)]
        m = train_refiner(train, held, out, size=size, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                          loss_weight=loss_weight, render_weight=render_weight,
                          extra_config={"body_model": body.name, "train_drops": [str(d) for d in drops],
                                        "photos_per_video": photos_per_video, "render_frames": frames})
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    t = Table("metric", "value", title=f"tokenizer -> {out}")
    for k, v in m.items():
        if not isinstance(v, list):
            t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    Console().print(t)


@evaluate_app.command("tokenizer")
def evaluate_tokenizer(drop: Path = typer.Option(..., help="Synthetic drop (with ground_truth/)."),
                       tokens: Path = typer.Option(..., help="Tokens folder written by `genlca tokenize`."),
                       resolution: int = typer.Option(128, help="UV grid resolution R of the tokens."),
                       views: int = typer.Option(4, help="Novel views rendered per video (0: no render PSNR)."),
                       json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON.")):
    """Render and colour PSNR of the seen parts, seen-texel IoU with the truth, unseen texels left neutral."""
    import json

    from genlca.body import load_body_model
    from genlca.body.uv_layout import uv_layout
    from genlca.tokenizer.pipeline import evaluate_tokens

    try:
        body = load_body_model()
        report = evaluate_tokens(drop, tokens, body, uv_layout(body, resolution), views=views)
    except FileNotFoundError as e:
        _fail(str(e))
    t = Table("video", "render PSNR dB", "texel PSNR dB", "seen IoU", "seen", "seen in truth",
              title=f"tokens vs ground truth: {drop}")
    for name, v in report["videos"].items():
        t.add_row(name, f"{v['render_psnr_db']:.2f}", f"{v['rgb_psnr_db']:.2f}", f"{v['seen_iou']:.3f}",
                  f"{v['seen_share']:.0%}", f"{v['true_seen_share']:.0%}")
    o = report["overall"]
    t.add_row("overall", f"{o['render_psnr_db']:.2f}", f"{o['rgb_psnr_db']:.2f}", f"{o['seen_iou']:.3f}", "", "")
    Console().print(t)
    console.print(f"caption colour words right: {o['caption_color_accuracy']:.1%} of {o['caption_words_scored']}")
    if json_out:
        json_out.write_text(json.dumps(report, indent=1, default=float))
        console.print(f"wrote {json_out}")


@evaluate_app.command("fitting")
def evaluate_fitting(drop: Path = typer.Option(..., help="Synthetic drop (with ground_truth/)."),
                     fits: Path = typer.Option(..., help="Fits folder written by `genlca fit`."),
                     json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON.")):
    """MPJPE / PA-MPJPE (mm), 2D reprojection error (px) and share of frames fitted, per framing."""
    import json

    from genlca.fitting.evaluate import evaluate_drop

    try:
        report = evaluate_drop(fits, drop)
    except FileNotFoundError as e:
        _fail(str(e))
    o = report["overall"]
    t = Table("metric", "value", title=f"fitting vs ground truth: {drop}")
    for k, v in o.items():
        t.add_row(k, json.dumps(v) if isinstance(v, dict) else (f"{v:.2f}" if isinstance(v, float) else str(v)))
    Console().print(t)
    if json_out:
        json_out.write_text(json.dumps(report, indent=1, default=float))
        console.print(f"wrote {json_out}")


@evaluate_app.command("ablation")
def evaluate_ablation(
        json_out: Path = typer.Option(..., "--json", help="Write the report (means, stds, per-seed values) here."),
        seeds: Optional[int] = typer.Option(None, help="Training seeds per method (default 3)."),
        steps: Optional[int] = typer.Option(None, help="Training steps per model, equal for every method."),
        batch_size: Optional[int] = typer.Option(None, help="Batch size, equal for every method."),
        train_videos: Optional[int] = typer.Option(None, help="Synthetic training subjects (default 96)."),
        test_videos: Optional[int] = typer.Option(None, help="Held-out test subjects (default 24)."),
        full_share: Optional[float] = typer.Option(None, help="Share of fully observed training subjects."),
        fill: Optional[str] = typer.Option(None, help="What unobserved texels hold: transparent | neutral."),
        methods: Optional[str] = typer.Option(None, help="Comma-separated methods (default the three; add "
                                                         "'oracle' for the ceiling trained on the full truth)."),
        runs: Optional[Path] = typer.Option(None, help="Train into this folder (default: the cache; reused)."),
        quick: bool = typer.Option(False, "--quick", help="Tiny everything: checks the protocol runs (~1 min)."),
):
    """Visibility-aware vs naive vs drop_partial training, equal compute, on held-out subjects' unobserved
    regions (evaluation/ablation.md). The default takes about 70 min on 2 CPU cores (a rerun reuses the trained
    models: ~1 min)."""
    import dataclasses
    import json

    from genlca.diffusion.ablation import AblationConfig, quick_config, report_table, run_ablation, verdict_lines

    cfg = quick_config() if quick else AblationConfig()
    bench = {k: v for k, v in (("train_videos", train_videos), ("test_videos", test_videos),
                               ("full_share", full_share), ("fill", fill)) if v is not None}
    top = {k: v for k, v in (("seeds", seeds), ("steps", steps), ("batch_size", batch_size)) if v is not None}
    if methods:
        top["methods"] = tuple(m.strip() for m in methods.split(",") if m.strip())
    try:
        cfg = dataclasses.replace(cfg, benchmark=dataclasses.replace(cfg.benchmark, **bench), **top)
        report = run_ablation(cfg, runs, progress=False, log=console.print)
    except ValueError as e:
        _fail(str(e))
    Console().print(report_table(report))
    for line in verdict_lines(report):
        console.print(f"visibility_aware {line}")
    v = report["verdict"]
    console.print(f"visibility-aware beats both others beyond the seed spread on unobserved render PSNR and "
                  f"opacity: {'yes' if v.get('wins_decisive') else 'no'} "
                  f"(no loss there: {'yes' if v.get('no_loss_decisive') else 'no'}; "
                  f"this run {report['timings']['total_s'] / 60:.1f} min)")
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report, indent=1, default=float))
    console.print(f"wrote {json_out}")


@evaluate_app.command("image-to-avatar")
def evaluate_image_to_avatar_cmd(
        drop: Path = typer.Option(..., help="Synthetic drop (with ground_truth/, synthesized at the checkpoint's "
                                  "UV resolution: `genlca synth --resolution R`)."),
        json_out: Path = typer.Option(..., "--json", help="Write the report here."),
        checkpoint: Optional[Path] = CheckpointOpt,
        compare: Optional[list[Path]] = typer.Option(None, help="Other checkpoints to score on the same photos "
                                                     "(e.g. a naive-trained one); repeatable."),
        fits: str = typer.Option("true", help="true: the photos' true fits and masks; detect: mediapipe + fitting."),
        caption: bool = typer.Option(False, help="Also give each photo's caption as the prompt."),
        keep: str = typer.Option("seen", help="seen: keep every texel the photo saw; confidence: blend by the "
                                 "tokenizer's visibility confidence."),
        tokenizer: Optional[Path] = typer.Option(None, help="A trained tokenizer (`genlca train-tokenizer`) to "
                                                 "refine the photos' tokens; without: unprojection only."),
        steps: int = typer.Option(25), method: str = typer.Option("euler"), seed: int = typer.Option(0),
        views: int = typer.Option(4), size: int = typer.Option(128)):
    """Image-to-avatar on synthetic photos (the middle frame of each video) against ground truth: render PSNR of
    the side the photo shows and of the side it does not."""
    import json

    from genlca.generation.image_eval import evaluate_image_to_avatar
    from genlca.paths import default_checkpoint

    paths = [(checkpoint or default_checkpoint()).resolve(), *(p.resolve() for p in compare or [])]
    for depth in range(1, max(len(p.parts) for p in paths) + 1):  # the shortest endings that tell them apart
        names = {"/".join(p.parts[-depth:]): p for p in paths}
        if len(names) == len(paths):
            break
    try:
        report = evaluate_image_to_avatar(names, drop, fits, _sampler_options(seed, steps, 1.0, 1.0, method),
                                          use_caption=caption, keep=keep, views=views, size=size,
                                          tokenizer=tokenizer, progress=True)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    t = Table("avatar", "visible side PSNR dB", "unobserved side PSNR dB",
              title=f"image-to-avatar, {report['photos']} synthetic photos ({fits} fits)")
    for name, m in report["summary"].items():
        t.add_row(name, f"{m['visible_psnr_db']:.2f}", f"{m['unobserved_psnr_db']:.2f}")
    Console().print(t)
    for k, v in report["verdict"].items():
        console.print(f"{k}: {v}")
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report, indent=1, default=float))
    console.print(f"wrote {json_out} ({report['seconds']:.0f} s)")


@evaluate_app.command("report")
def evaluate_report_cmd(
        out: Path = typer.Option(..., "--out", "-o", help="Folder for report.html, report.json, samples.png, "
                                 "lineage.html."),
        checkpoint: Optional[Path] = CheckpointOpt,
        dataset: Optional[Path] = typer.Option(None, help="Token dataset to compare with (default: "
                                               "$GENLCA_DATA/token_dataset)."),
        ablation: Optional[Path] = typer.Option(None, help="An ablation report (JSON of `genlca evaluate ablation`) "
                                                "to include."),
        samples: int = typer.Option(8), steps: int = typer.Option(20), size: int = typer.Option(128),
        drops: Optional[Path] = typer.Option(None, help="Where the data set's drops lie: synthetic ones with "
                                             "ground_truth/ are the reconstruction reference (default: $GENLCA_DROPS "
                                             "or $GENLCA_DATA/drops)."),
        region_avatars: int = typer.Option(2, help="Validation avatars whose regions are hidden in turn."),
        region_steps: int = typer.Option(10, help="Sampler steps of the held-out completions."),
        recon_inputs: int = typer.Option(2, help="Synthetic photos (validation videos with ground truth).")):
    """The evaluation report of a checkpoint: samples, metrics against the data set, held-out completion error per
    body region, image-conditioned reconstruction, lineage, ablation."""
    import os

    from genlca.eval.held_out import HeldOutConfig
    from genlca.eval.report import REPORT_HTML, evaluation_report
    from genlca.paths import data_root, default_checkpoint

    try:
        r = evaluation_report(checkpoint or default_checkpoint(), dataset or data_root() / "token_dataset", out,
                              samples=samples, steps=steps, size=size, ablation_json=ablation,
                              drops_dir=drops or Path(os.environ.get("GENLCA_DROPS", data_root() / "drops")),
                              held_out=HeldOutConfig(avatars=region_avatars, steps=region_steps,
                                                     recon_inputs=recon_inputs, size=size))
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    t = Table("metric", "value", title=f"checkpoint {r['weights']} (step {r['step']})")
    for name, m in r["metrics"].items():
        t.add_row(name, f"{m['value']:.4g}" if "value" in m else f"skipped: {m['skipped'][:80]}")
    Console().print(t)
    console.print(f"reconstruction reference: {r['held_out']['reconstruction']['reference']}; wrote "
                  f"{out / REPORT_HTML} ({r['seconds']:.0f} s)")


@evaluate_app.command("text-fidelity")
def evaluate_text_fidelity_cmd(
        checkpoint: Path = typer.Option(..., "--checkpoint", help="Checkpoint folder trained with text."),
        json_out: Path = typer.Option(..., "--json", help="Write the report (per region, references, rows) here."),
        prompts: int = typer.Option(100, help="Held-out prompts (one generated avatar each)."),
        seed: int = typer.Option(1000, help="Seed of the held-out subjects (the training subjects' must differ)."),
        steps: int = typer.Option(30, help="Sampler steps."),
        method: str = typer.Option("heun", help="heun | euler."),
        cfg_text: float = typer.Option(3.0, help="Classifier-free guidance scale of the prompt."),
        sample_seed: int = typer.Option(0, help="Seed of the sampling noise."),
        batch_size: int = typer.Option(16, help="Prompts sampled at once."),
        light: str = typer.Option("auto", help="How generated colours are named: auto (from the training "
                                  "tokens' tokenizer) | albedo | delit."),
        dataset: Optional[Path] = typer.Option(None, help="Token dataset the checkpoint was trained on (its "
                                               "tokenizer sets the light; prompts seen in training are counted)."),
        contact_sheet: Optional[Path] = typer.Option(None, "--contact-sheet", help="PNG of the first 8 "
                                                     "generated avatars with their prompts."),
        references: bool = typer.Option(True, "--references/--no-references", help="Also score the captioner on "
                                        "the true avatars (ceiling) and against shuffled prompts."),
):
    """Held-out prompts from the caption vocabulary -> one avatar each -> the captioner's reading, scored per
    region against the prompt's colours (evaluation/text_fidelity.md; target: 85% of cases)."""
    import json

    from genlca.generation.text_fidelity import TextFidelityConfig, evaluate_text_fidelity, report_table

    try:
        cfg = TextFidelityConfig(prompts=prompts, seed=seed, steps=steps, method=method, cfg_text=cfg_text,
                                 sample_seed=sample_seed, batch_size=batch_size, light=light, references=references)
        report = evaluate_text_fidelity(checkpoint, cfg, dataset=dataset, contact_sheet=contact_sheet, progress=True,
                                        log=console.print)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    Console().print(report_table(report))
    for ex in report["examples"][:3]:
        console.print(f"[dim]prompt:[/dim]  {ex['prompt']}\n[dim]reading:[/dim] {ex['reading']}")
    o = report["overall"]
    console.print(f"colours matched in {o['match_rate']:.1%} of {o['cases']} cases (target 85%: "
                  f"{'met' if report['passes'] else 'not met'}); {report['timings']['per_prompt_s']:.2f} s per "
                  f"generated avatar, {report['timings']['total_s']:.0f} s in all")
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report, indent=1, default=float))
    console.print(f"wrote {json_out}")


@app.command("train")
def train_cmd(dataset: Path = typer.Argument(..., help="Token dataset folder (the token_dataset asset's output)."),
              out: Path = typer.Option(..., "--out", "-o", help="Folder for the checkpoint (model.safetensors, "
                                       "checkpoint.json, checkpoints/last.ckpt, logs/)."),
              model: str = typer.Option("tiny", "--model", help="tiny | XS | S | B | L."),
              steps: int = typer.Option(200, help="Total optimizer steps (a resumed run ends at the same count)."),
              batch_size: int = typer.Option(8, help="Samples per step and process."),
              lr: float = typer.Option(3e-4), mode: str = typer.Option("visibility_aware", help="visibility_aware | "
                                                                         "naive | drop_partial."),
              text: bool = typer.Option(True, "--text/--no-text", help="Condition on the captions (MiniLM, offline)."),
              checkpoint_every: int = typer.Option(100, help="Steps between Lightning checkpoints."),
              devices: int = typer.Option(1, help="Processes per machine (DDP with gloo on CPU when > 1)."),
              num_nodes: int = typer.Option(1, "--num-nodes", help="Machines, each running DEVICES processes: start "
                                            "this command on every one with torchrun or srun (README \"Scaling "
                                            "out\")."),
              strategy: str = typer.Option("auto", help="Lightning strategy; auto: ddp when DEVICES x NUM_NODES "
                                           "> 1."),
              accelerator: str = typer.Option("auto", help="auto | cpu | gpu."),
              image_cond_prob: float = typer.Option(0.5, help="Share of samples conditioned on part of their own "
                                                    "observed tokens."),
              lineage: Optional[Path] = typer.Option(None, help="JSON recorded as is as checkpoint.json's lineage "
                                                     "(the genlca_checkpoint asset passes its own)."),
              threads: int = typer.Option(0, help="torch threads per process (0: torch's default)."),
              seed: int = typer.Option(0), fresh: bool = typer.Option(False, "--fresh", help="Start over even when "
                                                                       "OUT holds a checkpoint to resume.")):
    """Train the GenLCA diffusion model on a token dataset's train split; resumes OUT's last checkpoint."""
    import json

    from genlca.diffusion.data import load_token_dataset
    from genlca.diffusion.train import TrainConfig, train_diffusion

    try:
        if strategy == "auto" and devices * num_nodes > 1:
            strategy = "ddp"
        cfg = TrainConfig(model=model, steps=steps, batch_size=batch_size, lr=lr, mode=mode, seed=seed,
                          checkpoint_every=checkpoint_every, devices=devices, accelerator=accelerator, threads=threads,
                          strategy=strategy, num_nodes=num_nodes, image_cond_prob=image_cond_prob)
        lineage_dict = json.loads(lineage.read_text()) if lineage else None
        ds = load_token_dataset(dataset, "train")
        encoder = None
        if text:
            from genlca.diffusion.text import TextEncoder

            encoder = TextEncoder()
        m = train_diffusion(ds, out, cfg, text_encoder=encoder, lineage=lineage_dict, resume=not fresh)
    except (ValueError, FileNotFoundError) as e:  # a bad --lineage JSON is a ValueError too
        _fail(str(e))
    resumed = f", resumed at step {m['resumed_from']}" if m["resumed_from"] is not None else ""
    console.print(f"{m['steps']} steps on {len(ds)} samples{resumed}: loss {m['loss_first']:.4f} -> "
                  f"{m['loss_last']:.4f}, {m['seconds']:.0f} s ({m['samples_per_s']:.1f} samples/s) -> {out}")


@app.command("sample")
def sample_cmd(checkpoint: Path = typer.Argument(..., help="Checkpoint folder written by `genlca train`."),
               out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG of the sample from several sides."),
               tokens: Optional[Path] = typer.Option(None, "--tokens", help="Token file (.safetensors) of the sample: "
                                                     "`genlca render` shows it."),
               caption: str = typer.Option("", help="Text condition (checkpoints trained with text)."),
               seed: int = typer.Option(0), steps: int = typer.Option(30, help="Sampler steps."),
               method: str = typer.Option("heun", help="heun | euler."),
               cfg_text: float = typer.Option(3.0, help="Classifier-free guidance scale of the caption."),
               views: int = typer.Option(4), size: int = typer.Option(512)):
    """Generate an avatar with a trained GenLCA checkpoint (from noise, optionally from a caption)."""
    import tempfile

    from genlca.generation.generator import AvatarGenerator, SamplerOptions
    from genlca.showcase import RenderRequest, render_avatar
    from genlca.tokenizer.tokens import save_tokens

    if out is None and tokens is None:
        _fail("nothing to write: give --out OUT.png and/or --tokens OUT.safetensors")
    t0 = time.time()
    try:
        [avatar] = AvatarGenerator(checkpoint).from_text([caption], SamplerOptions(steps, method, cfg_text, seed=seed))
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    with tempfile.TemporaryDirectory() as tmp:
        path = save_tokens(avatar, tokens or Path(tmp) / "sample.safetensors")
        if tokens:
            console.print(f"wrote {path}")
        if out:
            render_avatar(RenderRequest(avatar=str(path), out=str(out), views=views, size=size), progress=True)
            console.print(f"wrote {out}")
    console.print(f"sampled in {time.time() - t0:.1f} s (seed {seed}, {steps} {method} steps)")


@app.command("export")
def export_cmd(checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="Checkpoint folder (`genlca train`)."),
               fmt: str = typer.Option("onnx", "--format", help="onnx | tensorrt (also the fp16 graph and, where "
                                       "TensorRT runs, its engine)."),
               out: Path = typer.Option(..., "--out", "-o", help="Folder for the exported sampler."),
               parity_steps: int = typer.Option(10, help="Sampler steps of the whole-sampler parity check.")):
    """Export the denoiser for deployment (ONNX, TensorRT) and check it against the PyTorch model: denoiser
    max |diff| <= 1e-4 at batch 1, 2, 5, whole-sampler PSNR >= 40 dB. Exits 1 when the check fails."""
    from genlca.export import ExportConfig, export_sampler

    try:
        c = export_sampler(checkpoint, out, ExportConfig(format=fmt, parity_steps=parity_steps), log=console.print)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        _fail(str(e))
    p, trt = c["parity"], c["tensorrt"]
    for name, size in c["files"].items():
        console.print(f"  {name}  ({size / 1e6:.2f} MB)")
    console.print(f"TensorRT: {trt['status']}" + (f" ({trt['reason']})" if trt.get("reason") else ""))
    verdict = "[green]passed[/green]" if p["passed"] else "[red]FAILED[/red]"
    console.print(f"parity {verdict}: denoiser max |diff| {p['denoiser_max_abs']:.2e} "
                  f"(<= {p['denoiser_max_abs_tol']:g}), sampler PSNR {p['sampler_psnr_db']:.1f} dB "
                  f"(>= {p['sampler_psnr_min_db']:g}); wrote {out} ({c['seconds']:.0f} s)")
    if not p["passed"]:
        raise typer.Exit(code=1)
    if fmt == "tensorrt" and trt["status"] != "built":
        _fail(f"no TensorRT engine here: {trt.get('reason')} (the ONNX export in {out} is complete)")


# ----------------------------------------------------------------------------- avatars for users


def _generator(checkpoint: Optional[Path], backend: str = "torch"):
    from genlca.generation.generator import AvatarGenerator
    from genlca.paths import default_checkpoint

    path = checkpoint or default_checkpoint()
    try:
        return AvatarGenerator(path, backend=backend)
    except (FileNotFoundError, ValueError) as e:
        _fail(f"{e}\n(train one with `make demo` or `genlca train`, or pass --checkpoint)")
    except RuntimeError as e:  # an exported backend that cannot run here, or an export that failed its parity check
        _fail(f"--backend {backend}: {e}")


def _sampler_options(seed: int, steps: int, cfg: float, cfg_image: float, method: str):
    from genlca.generation.generator import SamplerOptions

    if method not in ("heun", "euler"):
        _fail(f"--method must be heun or euler, got {method!r}")
    return SamplerOptions(steps=steps, method=method, cfg_text=cfg, cfg_image=cfg_image, seed=seed)


def _write_avatar(tokens, out: Path, turntable: Optional[Path] = None, grid_png: Optional[Path] = None,
                  size: int = 384, views: int = 4) -> None:
    from genlca.generation.generator import save_avatar
    from genlca.showcase import RenderRequest, render_avatar

    path = save_avatar(tokens, out)
    console.print(f"wrote {path}")
    if turntable or grid_png:
        info = render_avatar(RenderRequest(avatar=str(path), out=str(grid_png) if grid_png else None, views=views,
                                           size=size, turntable=str(turntable) if turntable else None), progress=True)
        for key in ("image", "turntable"):
            if key in info:
                console.print(f"wrote {info[key]}")


@app.command("generate")
def generate_cmd(
        out: Path = typer.Option(..., "--out", "-o", help="Avatar .ply (or .safetensors tokens); with --prompts, "
                                 "a folder."),
        text: str = typer.Option("", "--text", "-t", help="What the avatar looks like."),
        image: Optional[Path] = typer.Option(None, "--image", help="A photo of a person (full body or waist up): "
                                             "the avatar keeps what it shows and the model completes the rest."),
        prompts: Optional[Path] = typer.Option(None, "--prompts", help="Batch mode: a text file, one prompt per "
                                               "line; writes OUT/<nnn>.ply and OUT/contact_sheet.png."),
        seed: int = typer.Option(0), steps: int = typer.Option(30, help="Sampler steps."),
        cfg: float = typer.Option(3.0, help="Classifier-free guidance scale of the text."),
        cfg_image: float = typer.Option(1.0, help="Guidance scale of the photo (1 = plain conditional)."),
        method: str = typer.Option("heun", help="heun | euler."),
        checkpoint: Optional[Path] = CheckpointOpt,
        backend: str = typer.Option("torch", help="torch | onnx (onnxruntime) | tensorrt (fp16 engine, CUDA): "
                                    "where the denoiser runs; an exported one is made and checked on first use."),
        tokenizer: Optional[Path] = typer.Option(None, help="--image: trained tokenizer folder (default: "
                                                 "unprojection)."),
        turntable: Optional[Path] = typer.Option(None, help="Also write a turntable .mp4."),
        grid: Optional[Path] = typer.Option(None, help="Also write a PNG of the avatar from several sides."),
        size: int = typer.Option(384, help="Render size (px) of --turntable / --grid / the contact sheet.")):
    """Generate an avatar from text, from a photo (+ text), or one per line of a prompts file."""
    if sum(x is not None for x in (image, prompts)) > 1:
        _fail("give --image or --prompts, not both")
    opts = _sampler_options(seed, steps, cfg, cfg_image, method)
    if backend not in ("torch", "onnx", "tensorrt"):
        _fail(f"--backend must be torch, onnx or tensorrt, got {backend!r}")
    t0 = time.time()
    gen = _generator(checkpoint, backend)
    try:
        if prompts is not None:
            _generate_batch(gen, prompts, out, opts, size)
        elif image is not None:
            from genlca.body import body_model_named
            from genlca.generation.photo import tokenize_photo

            body = body_model_named(gen.body_model)
            photo = tokenize_photo(image, body, gen.resolution, out.parent / f"{out.stem}_fit", tokenizer)
            console.print(f"fitted the photo (keypoints within {photo.keypoint_error:.1%} of the person's height; "
                          f"overlay {photo.overlay_file}); it shows {photo.seen_share:.0%} of the body")
            [avatar] = gen.complete([photo.tokens], [text], opts)
            _write_avatar(avatar, out, turntable, grid, size)
        else:
            [avatar] = gen.from_text([text], opts)
            _write_avatar(avatar, out, turntable, grid, size)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    console.print(f"generated in {time.time() - t0:.1f} s (seed {seed}, {steps} {method} steps, cfg {cfg}, "
                  f"backend {backend})")


def _generate_batch(gen, prompts_file: Path, out: Path, opts, size: int) -> None:
    import json

    from genlca.generation.generator import save_avatar
    from genlca.generation.sheet import contact_sheet

    if not prompts_file.is_file():
        raise FileNotFoundError(f"{prompts_file}: no such prompts file")
    prompts = [line.strip() for line in prompts_file.read_text().splitlines() if line.strip()]
    if not prompts:
        raise ValueError(f"{prompts_file}: no prompt in it (one per line)")
    out.mkdir(parents=True, exist_ok=True)
    avatars = gen.from_text(prompts, opts)
    paths = [save_avatar(a, out / f"{i:03d}.ply") for i, a in enumerate(avatars)]
    sheet = contact_sheet(avatars, prompts, out / "contact_sheet.png", size=min(size, 256))
    (out / "prompts.json").write_text(json.dumps([{"file": p.name, "prompt": t} for p, t in zip(paths, prompts)],
                                                 indent=1))
    console.print(f"wrote {len(paths)} avatars to {out}/ and {sheet}")


@app.command("edit")
def edit_cmd(avatar: Path = typer.Argument(..., help="Avatar .ply (from `genlca generate`) or token file."),
             region: str = typer.Option(..., "--region", "-r", help="upper_body | lower_body | head | hair | arms | "
                                        "legs | feet."),
             text: str = typer.Option(..., "--text", "-t", help="What the region should look like (the whole "
                                      "avatar's description works best)."),
             out: Path = typer.Option(..., "--out", "-o", help="Edited avatar .ply (or .safetensors)."),
             strength: float = typer.Option(1.0, help="1: regenerate the region; below 1: change it partly "
                                            "(SDEdit from its current look)."),
             seed: int = typer.Option(0), steps: int = typer.Option(30), cfg: float = typer.Option(3.0),
             method: str = typer.Option("heun"), checkpoint: Optional[Path] = CheckpointOpt,
             grid: Optional[Path] = typer.Option(None, help="Also write a PNG: before | after, several sides."),
             size: int = typer.Option(256)):
    """Regenerate one body region of an avatar under a new prompt, keeping the rest."""
    from genlca.generation.generator import load_avatar_tokens, save_avatar

    if not 0 < strength <= 1:
        _fail(f"--strength must lie in (0, 1], got {strength}")
    opts = _sampler_options(seed, steps, cfg, 1.0, method)
    t0 = time.time()
    gen = _generator(checkpoint)
    try:
        before = load_avatar_tokens(avatar)
        after = gen.edit(before, region, text, strength, opts)
        path = save_avatar(after, out)
        console.print(f"wrote {path} ({after.meta['region_share']:.0%} of the surface regenerated)")
        if grid:
            from genlca.generation.sheet import contact_sheet

            contact_sheet([before, after], ["before", f"after: {region}"], grid, size=size, views=4, columns=1)
            console.print(f"wrote {grid}")
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    console.print(f"edited in {time.time() - t0:.1f} s")


@app.command("animate")
def animate_cmd(avatar: Path = typer.Argument(..., help="Avatar .ply (genlca) or token file."),
                motion: str = typer.Option("walk", "--motion", help="walk | wave | turn, a fits file "
                                           "(`genlca fit` output, .safetensors) or a video to take the motion from."),
                out: Path = typer.Option(..., "--out", "-o", help="Output .mp4."),
                expression: str = typer.Option("neutral", "--expression", help="neutral | smile | surprise | "
                                               "frown | talk | blink: a facial expression (body models with face "
                                               "units: Anny)."),
                seconds: float = typer.Option(2.0, help="Length of a procedural motion."),
                fps: float = typer.Option(24.0), size: int = typer.Option(384),
                azimuth: float = typer.Option(20.0, help="Camera direction (degrees from the front)."),
                framing: str = typer.Option("body", help="body | face: frame the whole motion, or a close-up of "
                                            "the head (to see an expression)."),
                backend: str = typer.Option("auto", help="auto | torch | gsplat (CUDA).")):
    """Drive an avatar with a motion (and a facial expression) and render it to a video."""
    from genlca.body import body_model_named
    from genlca.generation.animate import animate, load_clip, with_expression
    from genlca.generation.generator import load_avatar_tokens

    t0 = time.time()
    try:
        tokens = load_avatar_tokens(avatar)
        body = body_model_named(tokens.body_model)
        clip = with_expression(load_clip(motion, body, seconds, fps), expression, body)
        r = animate(tokens, clip, out, body, size=size, azimuth=azimuth, backend=backend, framing=framing,
                    progress=True)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    state = "intact" if r["intact"] else "[red]NOT intact[/red]"
    face = "" if r["expression"] == "neutral" else f" with a {r['expression']} face"
    console.print(f"wrote {r['path']}: {r['frames']} frames of {r['motion']}{face} ({r['seconds']} s); avatar {state} "
                  f"(Gaussians at most {r['max_excursion_m'] * 100:.1f} cm outside the body's box); "
                  f"{time.time() - t0:.1f} s")


@app.command("lineage")
def lineage_cmd(folders: Optional[list[Path]] = typer.Argument(None, help="Checkpoint folders (default: "
                                                                "$GENLCA_DATA/models/genlca and models/production, "
                                                                "those that exist)."),
                out: Path = typer.Option(Path("lineage.html"), "--out", "-o", help="Self-contained HTML report."),
                json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the entries as JSON.")):
    """Every checkpoint reachable from the folders (their history/ too) side by side: data version, code, config,
    parent, metrics with deltas against the parent, and what changed."""
    from genlca.eval.lineage import collect_lineage, write_lineage_html, write_lineage_json
    from genlca.paths import data_root, default_checkpoint

    production = data_root() / "models" / "production"
    if not folders:
        folders = [p for p in (default_checkpoint(), production) if (p / "checkpoint.json").is_file()]
        if not folders:
            _fail(f"no checkpoint in {default_checkpoint()} or {production}: name the checkpoint folders")
    try:
        entries = collect_lineage(folders, production=production if production.is_dir() else None)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    write_lineage_html(entries, out)
    if json_out:
        write_lineage_json(entries, json_out)
    t = Table("checkpoint", "step", "data", "parent", "changed", "loss_last", title=f"{len(entries)} checkpoints")
    for e in entries:
        d = e["deltas"].get("loss_last")
        loss = e["metrics"].get("loss_last")
        t.add_row(" " * 2 * e["depth"] + e["id"] + (" *" if e["production"] else ""), str(e["step"]),
                  e["data_version"] or "none", e["parent_id"] or "none",
                  ", ".join(k for k, v in e["changed"].items() if v) or "",
                  ("—" if loss is None else f"{loss:.4g}") + (f" ({d:+.3g})" if d is not None else ""))
    Console().print(t)
    console.print(f"wrote {out}" + (f" and {json_out}" if json_out else "") + " (* production)")


def main() -> None:
    """The `genlca` entry point: a full disk anywhere is one clear line (the file, the reason), not a traceback."""
    from genlca.io_utils import DiskFullError

    try:
        app()
    except DiskFullError as e:
        console.print(f"[red]error:[/red] {e.strerror}")
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
