"""The denoiser to ONNX with torch's dynamo exporter (torch.export, then onnxscript; opset 20, DESIGN.md), and
the checks a graph passes before anything runs it: onnx.checker's full check (with shape inference), the inputs
and outputs by name, shape and type, and a dynamic batch axis on every one of them."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections import Counter
from pathlib import Path

import torch

from genlca.diffusion.text import MAX_TOKENS
from genlca.export.denoiser import INPUT_NAMES, OUTPUT_NAMES, ExportDenoiser, example_inputs

OPSET = 20
EXTERNAL_DATA_BYTES = 1.5e9  # above this the weights go to a side file (protobuf stops at 2 GB)


@contextlib.contextmanager
def _quiet():
    """The exporter's notes (torchvision ops it skips, its progress lines) are expected: keep logs readable."""
    names = ("torch.onnx", "torch.export", "torch._export", "torch.__trace", "onnxscript")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(model: torch.nn.Module, path: str | os.PathLike, text_tokens: int = MAX_TOKENS, opset: int = OPSET,
                dtype: torch.dtype = torch.float32, optimize: bool = True, rearranged: bool = True) -> dict:
    """Write `model` (a GenLCADiT) as an ONNX graph with a dynamic batch (denoiser.py: the inputs); float16:
    half-precision internals with float32 inputs and outputs; optimize: onnxscript's graph optimizer (constant
    folding, redundant casts and shape ops); rearranged=False: the model's forward as it is, not ExportDenoiser's
    rearrangement of it. Returns what was written and how long it took."""
    from genlca.io_utils import atomic_path

    path = Path(path)
    wrapper = ExportDenoiser(model, dtype, rearranged).eval()
    args = example_inputs(model.config, batch=2, text_tokens=text_tokens)
    batch = torch.export.Dim("batch", min=1)
    weight_bytes = sum(p.numel() * p.element_size() for p in wrapper.parameters())
    external = weight_bytes > EXTERNAL_DATA_BYTES
    t0 = time.perf_counter()
    with _quiet(), torch.no_grad():
        program = torch.onnx.export(wrapper, args, dynamo=True, dynamic_shapes={k: {0: batch} for k in INPUT_NAMES},
                                    input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                                    opset_version=opset, optimize=optimize, verbose=False, external_data=external)
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    if external:  # the side file is named after the graph file: write in place
        program.save(str(path), external_data=True)
    else:
        with atomic_path(path) as tmp:
            program.save(str(tmp), external_data=False)
    files = [path] + ([Path(f"{path}.data")] if Path(f"{path}.data").exists() else [])
    return {"file": path.name, "dtype": str(dtype).removeprefix("torch."), "opset": opset, "text_tokens": text_tokens,
            "optimized": optimize, "rearranged": rearranged,
            "exporter": f"torch.onnx.export(dynamo=True) torch {torch.__version__}",
            "export_seconds": round(seconds, 2),
            "bytes": sum(f.stat().st_size for f in files), "external_data": external}


def check_graph(path: str | os.PathLike) -> dict:
    """onnx.checker (full check: shape inference too) and a summary of the graph; raises ValueError when an
    input or output is missing, or is not batched on a dynamic first axis."""
    import onnx

    onnx.checker.check_model(str(path), full_check=True)
    graph = onnx.load(str(path), load_external_data=False).graph

    def io(values) -> list[dict]:
        out = []
        for v in values:
            dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name
            out.append({"name": v.name, "shape": dims, "dtype": dtype})
        return out

    inputs, outputs = io(graph.input), io(graph.output)
    for want, got in ((INPUT_NAMES, inputs), (OUTPUT_NAMES, outputs)):
        if [g["name"] for g in got] != list(want):
            raise ValueError(f"{path}: graph I/O {[g['name'] for g in got]}, expected {list(want)}")
        static = [g["name"] for g in got if not isinstance(g["shape"][0], str)]
        if static:
            raise ValueError(f"{path}: no dynamic batch axis on {static}")
    ops = Counter(n.op_type for n in graph.node)
    return {"checker": "passed (full_check)", "inputs": inputs, "outputs": outputs, "nodes": len(graph.node),
            "ops": dict(ops.most_common()), "initializers": len(graph.initializer)}


__all__ = ["OPSET", "check_graph", "export_onnx"]
