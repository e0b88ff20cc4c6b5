"""Exported denoisers that stand in for GenLCADiT where the sampler calls it.

    model = OrtDenoiser("export/denoiser.onnx", config, chart, device="cpu")
    maps, shape = genlca.diffusion.flow.sample(model, 4, text=text, cfg_text=3.0, seed=0)

The Euler / Heun loop and classifier-free guidance stay in ONE place, flow.sample: it runs unchanged on every
backend, and batches its guidance terms (conditional and unconditional) into one call of the graph. What it
and AvatarGenerator use of a model is what RuntimeDenoiser provides: input_size, in_channels, shape_dim, chart,
config, parameters() (the sampler reads its device from the first one), eval() / train(False) / training, and
the call model(x, shape, t, text=..., cond=...) -> (velocity, shape velocity). Sampling never passes `valid`
or `chart`; a graph has no such inputs, so they are refused rather than ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from genlca.diffusion.model import text_dict
from genlca.diffusion.text import MAX_TOKENS
from genlca.export.denoiser import INPUT_NAMES, OUTPUT_NAMES, pack_cond, pack_text


class RuntimeDenoiser:
    """The GenLCADiT interface the sampler needs (module docstring); subclasses run the graph in `_run`."""

    training = False
    backend = "runtime"

    def __init__(self, config: dict, chart: Tensor, text_tokens: int = MAX_TOKENS, device: str | torch.device = "cpu"):
        self.config, self.text_tokens = dict(config), text_tokens
        self.input_size, self.in_channels = int(config["input_size"]), int(config["in_channels"])
        self.shape_dim, self.patch_size = int(config["shape_dim"]), int(config["patch_size"])
        self.device = torch.device(device)
        self.chart = chart.bool().to(self.device)
        self._packed: dict[str, tuple] = {}

    def parameters(self):
        yield self.chart  # flow.sample: device = next(model.parameters()).device

    def eval(self) -> "RuntimeDenoiser":
        return self

    def train(self, mode: bool = True) -> "RuntimeDenoiser":
        if mode:
            raise RuntimeError(f"a {self.backend} denoiser is exported for inference: it cannot be trained")
        return self

    def __call__(self, x: Tensor, shape: Tensor, t: Tensor, text=None, cond: dict | None = None,
                 valid: Tensor | None = None, chart: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if valid is not None or chart is not None:
            raise ValueError("an exported denoiser takes no `valid` or `chart` input (sampling passes neither)")
        x = x.to(self.device, torch.float32).contiguous()
        B, C, R, _ = x.shape
        feed = {"x": x, "shape": shape.to(self.device, torch.float32).contiguous(),
                "t": t.to(self.device, torch.float32).reshape(B).contiguous()}
        tx = text_dict(text) or {}
        feed |= self._cached("text", (B, *(tx.get(k) for k in ("pooled", "tokens", "mask"))),
                             lambda: pack_text(text, B, self.device, self.text_tokens, int(self.config["text_dim"])))
        parts = (B, None, None) if cond is None else (B, cond["maps"], cond["visibility"])
        feed |= self._cached("cond", parts, lambda: pack_cond(cond, C, B, R, self.device))
        return self._run(feed)

    def _cached(self, slot: str, parts: tuple, pack) -> dict[str, Tensor]:
        """pack() (pack_inputs' text or condition part), or what it gave last time for the same tensors unmodified
        since (their version counters): a sampling loop passes the same conditions at every step, and packing
        them again (zero padding, zeros for absent ones) was ~4% of a tiny-model call. The tensors stay referenced
        while cached, so their ids cannot be reused. Inference-mode tensors have no version counter: repacked."""
        tensors = [v for v in parts if isinstance(v, Tensor)]
        if any(v.is_inference() for v in tensors):
            return pack()
        key = tuple((id(v), v._version) if isinstance(v, Tensor) else v for v in parts)
        hit = self._packed.get(slot)
        if hit is None or hit[0] != key:
            hit = self._packed[slot] = (key, parts, pack())
        return hit[2]

    def _outputs(self, batch: int) -> dict[str, Tensor]:
        R = self.input_size
        return {"velocity": torch.empty(batch, self.in_channels, R, R, device=self.device),
                "shape_velocity": torch.empty(batch, self.shape_dim, device=self.device)}

    def _run(self, feed: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


def ort_providers(device: str | torch.device = "cpu", tensorrt: bool = False) -> list:
    """onnxruntime execution providers for a device: CPU; on CUDA the CUDA provider (TensorRT's first when
    `tensorrt`), with the CPU provider behind for any node they do not take. Raises when the installed
    onnxruntime lacks them (onnxruntime-gpu replaces onnxruntime: the `gpu` extra)."""
    import onnxruntime as ort

    device = torch.device(device)
    if device.type == "cpu":
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    wanted = (["TensorrtExecutionProvider"] if tensorrt else []) + ["CUDAExecutionProvider"]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise RuntimeError(f"onnxruntime {ort.__version__} has no {', '.join(missing)} (available: {available}); "
                           "install the `gpu` extra (onnxruntime-gpu) on a CUDA machine")
    index = device.index or 0
    out: list = []
    if tensorrt:
        out.append(("TensorrtExecutionProvider", {"device_id": index, "trt_fp16_enable": True}))
    return out + [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]


def session_options(threads: int | None = None):
    """All graph optimizations; intra-op threads = torch's (the same CPU budget as the torch sampler), one
    inter-op thread (the graph is a chain)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads or torch.get_num_threads()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3  # errors only: node placement notes are expected on GPUs
    return so


_NP = {torch.float32: "float32", torch.float16: "float16", torch.bool: "bool"}


class OrtDenoiser(RuntimeDenoiser):
    """An ONNX denoiser in onnxruntime. Inputs and outputs are bound in place (IOBinding) to torch tensors on
    the device: no copies through host memory on a GPU, and no output allocation per call on the CPU."""

    backend = "onnx"

    def __init__(self, path: str | os.PathLike, config: dict, chart: Tensor, text_tokens: int = MAX_TOKENS,
                 device: str | torch.device = "cpu", providers: list | None = None, threads: int | None = None,
                 options=None):
        import onnxruntime as ort

        super().__init__(config, chart, text_tokens, device)
        self.path = Path(path)
        self.session = ort.InferenceSession(str(self.path), options or session_options(threads),
                                            providers=providers or ort_providers(self.device))
        self.providers = self.session.get_providers()
        self._ort_device = "cuda" if self.device.type == "cuda" else "cpu"

    def _run(self, feed: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        import numpy as np

        out = self._outputs(feed["x"].shape[0])
        io = self.session.io_binding()
        index = self.device.index or 0
        for name, t in [*feed.items(), *out.items()]:
            bind = io.bind_input if name in INPUT_NAMES else io.bind_output
            bind(name, self._ort_device, index, np.dtype(_NP[t.dtype]), tuple(t.shape), t.data_ptr())
        if self.device.type == "cuda":  # torch's kernels that wrote the inputs run on torch's stream, not ORT's
            torch.cuda.synchronize(self.device)
        self.session.run_with_iobinding(io)
        return out[OUTPUT_NAMES[0]], out[OUTPUT_NAMES[1]]


__all__ = ["OrtDenoiser", "RuntimeDenoiser", "ort_providers", "session_options"]
