"""The exported sampler (genlca.export): graph checks, denoiser and whole-sampler parity against PyTorch, the ONNX
runtime standing in for the model in flow.sample, `genlca export` and `generate --backend onnx`, the
exported_sampler asset with its blocking check, and TensorRT skipped with its reason where it cannot run.

The checkpoint is written directly, not trained: a tiny model at R = 32 (patch 4) on the Anny UV chart, its
zero-initialised output and gate layers perturbed so that every input moves the output. The module exports it
twice (the CLI, the asset): the dynamo exporter takes ~10 s for it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

R = 32
PROMPT = "a person in a red top"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, anny):
    from genlca.avatar import template_avatar
    from genlca.body.uv_layout import uv_layout
    from genlca.diffusion.data import Normalizer, TokenMapsDataset
    from genlca.diffusion.model import GenLCA_models
    from genlca.diffusion.train import TrainConfig, export

    torch.set_num_threads(1)
    layout = uv_layout(anny, R)
    chart = layout.mask.bool()
    g = torch.Generator().manual_seed(0)
    maps = template_avatar(anny, layout).maps[None].float()
    maps = torch.cat([maps, maps + 0.05 * torch.randn(maps.shape, generator=g) * chart])
    valid = chart.expand(2, -1, -1).clone()
    ds = TokenMapsDataset(maps, torch.zeros(2, len(anny.shape_labels)), valid, ["a", "b"],
                          Normalizer.fit(maps, valid), chart, version="export-test")
    torch.manual_seed(0)
    model = GenLCA_models["tiny"](input_size=R, patch_size=4, shape_dim=ds.shape_dim, chart=chart)
    with torch.no_grad():
        for p in model.parameters():
            if not p.abs().any():
                p.normal_(0, 0.02)
    out = tmp_path_factory.mktemp("export") / "ckpt"
    out.mkdir()
    export(model, ds.normalizer, out, TrainConfig(model_kwargs={"patch_size": 4}), ds, {"steps": 0, "run_id": "test"},
           {}, text_model="all-MiniLM-L6-v2")
    return out


@pytest.fixture(scope="module")
def exported(checkpoint):
    """`genlca export` into the checkpoint's export/ folder (where `generate --backend onnx` looks first)."""
    from genlca.cli import app

    torch.set_num_threads(1)
    r = CliRunner().invoke(app, ["export", "--checkpoint", str(checkpoint), "--format", "onnx", "--out",
                                 str(checkpoint / "export"), "--parity-steps", "6"])
    assert r.exit_code == 0, r.output
    assert "parity passed" in r.output
    return checkpoint / "export"


def test_absent_conditions_are_the_graphs_null_tensors(checkpoint):
    from genlca.diffusion.train import load_checkpoint
    from genlca.export.denoiser import ExportDenoiser, pack_inputs

    model, _, _ = load_checkpoint(checkpoint)
    g = torch.Generator().manual_seed(3)
    x, s, t = torch.randn(3, 14, R, R, generator=g), torch.randn(3, model.shape_dim, generator=g), torch.rand(3)
    wrapped = ExportDenoiser(model)
    with torch.no_grad():
        ref = model(x, s, t)
        zero_cond = model(x, s, t, cond={"maps": torch.zeros_like(x), "visibility": torch.zeros(3, R, R)})
        packed = wrapped(*pack_inputs(x, s, t).values())
    assert all(torch.equal(a, b) for a, b in zip(ref, zero_cond))  # no image == zero maps and visibility, exactly
    for a, b in zip(ref, packed):  # no caption == zero pooled + masked padding tokens, to round-off
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)

    feed = pack_inputs(x, s, t, {"tokens": torch.ones(3, 60, 384), "mask": torch.arange(60).expand(3, -1) < 20})
    assert feed["text_tokens"].shape == (3, 48, 384) and int(feed["text_mask"].sum()) == 60  # padding cut, not words
    with pytest.raises(ValueError, match="at most 48"):
        pack_inputs(x, s, t, {"tokens": torch.ones(3, 60, 384)})


@pytest.mark.parametrize("prediction", ["x", "v"])
def test_the_exported_forward_is_the_models(prediction):
    """ExportDenoiser's rearranged forward (patch MatMuls, one-Transpose (un)patchify, the velocity's division
    folded in; denoiser.py) against GenLCADiT.forward in torch, both parametrizations, with and without a caption
    and an image condition, at t down to the model's t_min (where x-prediction divides by it)."""
    from genlca.diffusion.model import GenLCA_models
    from genlca.export.denoiser import ExportDenoiser, pack_inputs
    from genlca.export.parity import random_cond, random_text

    g = torch.Generator().manual_seed(5)
    chart = torch.rand(R, R, generator=g) < 0.7
    torch.manual_seed(0)
    model = GenLCA_models["tiny"](input_size=R, patch_size=4, shape_dim=6, chart=chart, prediction=prediction).eval()
    with torch.no_grad():
        for p in model.parameters():
            if not p.abs().any():
                p.normal_(0, 0.02)
    wrapped = ExportDenoiser(model)
    for B in (1, 2, 5):
        x, s = torch.randn(B, 14, R, R, generator=g), torch.randn(B, 6, generator=g)
        t = torch.rand(B, generator=g).clamp(min=0.01)
        t[0] = 0.01
        for text, cond in ((None, None), (random_text(B, 24, 384, g), random_cond(B, 14, R, chart, g))):
            with torch.no_grad():
                ref = model(x, s, t, text=text, cond=cond)
                got = wrapped(*pack_inputs(x, s, t, text, cond).values())
            for a, b in zip(ref, got):
                torch.testing.assert_close(b, a, rtol=0, atol=1e-4)


def test_cli_export_writes_a_checked_graph_and_parity_report(exported):
    from genlca.export.denoiser import INPUT_NAMES, OUTPUT_NAMES
    from genlca.export.onnx_export import check_graph

    assert {"denoiser.onnx", "chart.safetensors", "normalizer.safetensors", "parity.json",
            "config.json"} <= {p.name for p in exported.iterdir()}
    graph = check_graph(exported / "denoiser.onnx")  # onnx.checker, full check
    assert [i["name"] for i in graph["inputs"]] == list(INPUT_NAMES)
    assert [o["name"] for o in graph["outputs"]] == list(OUTPUT_NAMES)
    shapes = {i["name"]: i["shape"] for i in graph["inputs"]}
    assert all(isinstance(v[0], str) for v in shapes.values())  # a dynamic batch everywhere
    assert shapes["x"][1:] == [14, R, R] and shapes["text_tokens"][1:] == [48, 384] and shapes["t"][1:] == []
    assert {i["name"]: i["dtype"] for i in graph["inputs"]}["text_mask"] == "bool"

    config = json.loads((exported / "config.json").read_text())
    assert config["onnx"]["opset"] == 20 and config["parity"]["passed"]
    assert config["tensorrt"]["status"] == "not requested"
    report = json.loads((exported / "parity.json").read_text())["onnx_cpu"]
    cases = report["denoiser"]["cases"]
    assert {(c["batch"], c["text"], c["image"]) for c in cases} == {(b, t, i) for b in (1, 2, 5)
                                                                   for t in (False, True) for i in (False, True)}
    assert all(c["max_abs"] <= 1e-4 and c["max_abs_shape"] <= 1e-4 for c in cases)
    assert {r["method"] for r in report["sampler"]["runs"]} == {"euler", "heun"}
    assert all(r["psnr_db"] >= 40 for r in report["sampler"]["runs"])


def test_onnx_runtime_stands_in_for_the_model(exported, checkpoint):
    from genlca.diffusion.train import load_checkpoint
    from genlca.export import load_runtime
    from genlca.export.parity import denoiser_parity, sampler_parity

    model, _, _ = load_checkpoint(checkpoint)
    runtime = load_runtime(exported, "onnx")
    den = denoiser_parity(model, runtime, (1, 2, 5), seed=7)
    assert den["max_abs"] <= 1e-4, den
    smp = sampler_parity(model, runtime, num_samples=2, steps=5, seed=7)  # Euler and Heun, text + image guidance
    assert smp["psnr_db"] >= 40, smp
    assert runtime.input_size == R and torch.equal(runtime.chart, model.chart)
    x = torch.zeros(1, 14, R, R)
    with pytest.raises(ValueError, match="valid"):
        runtime(x, torch.zeros(1, model.shape_dim), torch.ones(1), valid=torch.ones(1, R, R))
    with pytest.raises(RuntimeError, match="cannot be trained"):
        runtime.train(True)


def test_the_runtime_packs_conditions_again_when_they_change(exported, checkpoint):
    """The runtime keeps the packed caption / image condition between calls of a sampling loop (runtime.py):
    tensors changed in place, or other tensors, are packed again."""
    from genlca.diffusion.train import load_checkpoint
    from genlca.export import load_runtime
    from genlca.export.parity import random_cond, random_text

    model, _, _ = load_checkpoint(checkpoint)
    runtime = load_runtime(exported, "onnx")
    g = torch.Generator().manual_seed(11)
    x, s, t = torch.randn(2, 14, R, R, generator=g), torch.randn(2, model.shape_dim, generator=g), torch.rand(2)
    text, cond = random_text(2, 24, 384, g), random_cond(2, 14, R, model.chart, g)
    with torch.no_grad():
        for step in range(4):
            if step == 1:
                text["tokens"].mul_(-2)  # in place
            if step == 2:
                cond = {k: v.clone() for k, v in cond.items()}
                cond["visibility"].zero_()
            if step == 3:
                text, cond = None, None
            v_ref, vs_ref = model(x, s, t, text=text, cond=cond)
            v, vs = runtime(x, s, t, text=text, cond=cond)
            torch.testing.assert_close(v, v_ref, rtol=0, atol=1e-4)
            torch.testing.assert_close(vs, vs_ref, rtol=0, atol=1e-4)


def test_generate_with_the_onnx_backend_renders_like_torch(exported, checkpoint, tmp_path):
    from genlca.cli import app
    from genlca.export import runtime_for_checkpoint
    from genlca.export.parity import psnr_db
    from genlca.generation.sheet import avatar_views
    from genlca.tokenizer.tokens import load_tokens

    assert runtime_for_checkpoint(checkpoint, "onnx").path.parent == exported  # the checkpoint's own export
    runner = CliRunner()
    tokens = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / f"{backend}.safetensors"
        r = runner.invoke(app, ["generate", "--text", PROMPT, "--out", str(out), "--checkpoint", str(checkpoint),
                                "--steps", "4", "--backend", backend])
        assert r.exit_code == 0, r.output
        assert f"backend {backend}" in r.output
        tokens[backend] = load_tokens(out)
    a, b = (tokens[k].maps for k in ("torch", "onnx"))
    assert float((a - b).abs().max()) < 1e-3
    views = {k: avatar_views(t, views=2, size=64).astype(np.float64) for k, t in tokens.items()}
    assert views["torch"].std() > 5  # something was drawn
    assert psnr_db(torch.from_numpy(views["torch"]), torch.from_numpy(views["onnx"])) >= 40


def test_tensorrt_is_skipped_here_with_its_reason(exported, checkpoint, tmp_path):
    from genlca.cli import app
    from genlca.export import load_runtime, runtime_for_checkpoint, tensorrt_status

    status = tensorrt_status()
    if status["available"]:
        pytest.skip(f"TensorRT {status['version']} runs here (test_exported_sampler_asset builds the engine)")
    assert status["reason"] and "tensorrt" in status["reason"].lower()
    with pytest.raises(FileNotFoundError, match="no TensorRT engine"):
        load_runtime(exported, "tensorrt")
    with pytest.raises(RuntimeError, match="cannot run here"):
        runtime_for_checkpoint(checkpoint, "tensorrt")
    r = CliRunner().invoke(app, ["generate", "--text", PROMPT, "--out", str(tmp_path / "a.ply"), "--checkpoint",
                                 str(checkpoint), "--steps", "2", "--backend", "tensorrt"])
    assert r.exit_code == 2 and "cannot run here" in r.output


def test_exported_sampler_asset_records_tensorrt_and_passes_its_blocking_check(checkpoint, tmp_path):
    import dagster as dg

    from assets.export_assets import exported_sampler
    from genlca.export import tensorrt_status
    from orchestration.resources import ArtifactStore

    shutil.copytree(checkpoint, tmp_path / "models" / "genlca", ignore=shutil.ignore_patterns("export"))
    [spec] = exported_sampler.check_specs
    assert spec.name == "parity" and spec.blocking
    result = dg.materialize([exported_sampler], resources={"store": ArtifactStore(root=str(tmp_path))},
                            run_config={"ops": {"exported_sampler": {"config": {"format": "tensorrt",
                                                                                "parity_steps": 4}}}})
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "parity" and check.passed
    md = result.asset_materializations_for_node("exported_sampler")[0].metadata
    assert md["denoiser_max_abs_diff"].value <= 1e-4 and md["sampler_psnr_db"].value >= 40
    assert md["parity"].value.count("denoiser B=") == 12
    assert {"denoiser.onnx", "normalizer.safetensors", "chart.safetensors"} <= set(md["file_bytes"].value)
    assert "CPUExecutionProvider" in md["onnxruntime_providers"].value
    status = tensorrt_status()
    if status["available"]:
        assert md["tensorrt_status"].value == "built" and md["tensorrt"].value["engine_parity"]
    else:  # skipped, and why, in the asset's metadata
        assert md["tensorrt_status"].value == "skipped"
        assert md["tensorrt_reason"].value == status["reason"]
    assert (tmp_path / "models" / "genlca" / "export" / "config.json").is_file()


@pytest.mark.slow
def test_fp16_graph_for_tensorrt_checks_and_runs_in_onnxruntime(checkpoint, tmp_path):
    """The graph a TensorRT engine is built from (half-precision inside, float32 in and out), verified where no
    TensorRT is: onnx.checker, then onnxruntime on the CPU against the fp32 model, to fp16 accuracy."""
    from genlca.diffusion.train import load_checkpoint
    from genlca.export.onnx_export import check_graph, export_onnx
    from genlca.export.parity import denoiser_parity, sampler_parity
    from genlca.export.runtime import OrtDenoiser

    model, _, _ = load_checkpoint(checkpoint)
    info = export_onnx(model, tmp_path / "denoiser.fp16.onnx", dtype=torch.float16)
    graph = check_graph(tmp_path / "denoiser.fp16.onnx")
    assert info["dtype"] == "float16" and {i["dtype"] for i in graph["inputs"]} == {"float32", "bool"}
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is left in fp32
    runtime = OrtDenoiser(tmp_path / "denoiser.fp16.onnx", model.config, model.chart)
    den = denoiser_parity(model, runtime, (1, 5))
    assert den["max_abs"] <= 2e-2 * max(c["reference_max_abs"] for c in den["cases"]), den
    assert sampler_parity(model, runtime, steps=5)["psnr_db"] >= 30
