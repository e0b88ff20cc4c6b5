"""A TensorRT fp16 engine of the denoiser, built with the TensorRT Python API, and the runtime that executes it.

TensorRT cannot be installed on every machine (its PyPI package fetches NVIDIA binaries, and it needs a CUDA
GPU): `tensorrt_status()` says whether it can run here and, when not, why. Callers record that reason and skip
the engine; nothing pretends to have built one.

The engine is built from the fp16 ONNX graph (export_onnx(dtype=float16): half-precision weights and
activations, float32 inputs and outputs) as a strongly typed network: TensorRT 11 removed the weakly typed
BuilderFlag.FP16 route, and on TensorRT 10 the strongly typed flag gives the same engine from the same file.
One optimization profile covers batches 1..max_batch (the sampler's batch is guidance terms x avatars).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import Tensor

from genlca.diffusion.text import MAX_TOKENS
from genlca.export.denoiser import INPUT_NAMES, OUTPUT_NAMES
from genlca.export.runtime import RuntimeDenoiser

ENGINE_FILE = "denoiser.fp16.engine"


def tensorrt_status() -> dict:
    """{"available": bool, "reason": why not (or ""), "version": TensorRT's or None, "device": the GPU or None}."""
    try:
        import tensorrt as trt
    except Exception as e:  # noqa: BLE001 - ImportError, or a tensorrt wheel whose NVIDIA libraries are missing
        return {"available": False, "version": None, "device": None,
                "reason": f"the tensorrt package cannot be imported ({type(e).__name__}: {e}); it is in the `gpu` "
                          "extra, for CUDA machines (its PyPI package fetches NVIDIA's binaries)"}
    if not torch.cuda.is_available():
        return {"available": False, "version": trt.__version__, "device": None,
                "reason": f"tensorrt {trt.__version__} is installed but torch sees no CUDA device"}
    if not hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        return {"available": False, "version": trt.__version__, "device": torch.cuda.get_device_name(),
                "reason": f"tensorrt {trt.__version__} has no strongly typed networks: TensorRT >= 10 is needed"}
    return {"available": True, "version": trt.__version__, "device": torch.cuda.get_device_name(), "reason": ""}


def _logger():
    import tensorrt as trt

    return trt.Logger(trt.Logger.WARNING)


def build_engine(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, max_batch: int = 64,
                 opt_batch: int = 6, workspace_gib: float = 4.0) -> dict:
    """Parse the fp16 ONNX graph, build a serialized engine with one dynamic-batch profile (min 1, opt
    `opt_batch`: 3 guidance terms x 2 avatars, max `max_batch`) and write it. Raises RuntimeError where
    TensorRT cannot run (tensorrt_status) or the parser / builder fails (with TensorRT's messages)."""
    status = tensorrt_status()
    if not status["available"]:
        raise RuntimeError(status["reason"])
    import tensorrt as trt

    from genlca.io_utils import atomic_path

    t0 = time.perf_counter()
    logger = _logger()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2**30))
    profile = builder.create_optimization_profile()
    shapes = {}
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        rest = tuple(tensor.shape)[1:]
        shapes[tensor.name] = [(b, *rest) for b in (1, min(opt_batch, max_batch), max_batch)]
        profile.set_shape(tensor.name, *shapes[tensor.name])
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see its log above)")
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(bytes(serialized))
    return {"status": "built", "engine": Path(engine_path).name, "precision": "fp16 (strongly typed)",
            "tensorrt": trt.__version__, "device": status["device"],
            "build_seconds": round(time.perf_counter() - t0, 1), "bytes": Path(engine_path).stat().st_size,
            "profile": {"min": 1, "opt": min(opt_batch, max_batch), "max": max_batch}}


class TensorRTDenoiser(RuntimeDenoiser):
    """A serialized TensorRT engine on a CUDA device, executed on torch's current stream with torch tensors as
    its buffers; batches above the profile's maximum run in chunks."""

    backend = "tensorrt"

    def __init__(self, engine_path: str | os.PathLike, config: dict, chart: Tensor, text_tokens: int = MAX_TOKENS,
                 device: str | torch.device = "cuda"):
        status = tensorrt_status()
        if not status["available"]:
            raise RuntimeError(f"cannot run the TensorRT engine here: {status['reason']}")
        import tensorrt as trt

        device = torch.device(device)
        if device.type != "cuda":
            raise ValueError(f"TensorRT runs on a CUDA device, not {device}")
        super().__init__(config, chart, text_tokens, device)
        self.path = Path(engine_path)
        self.engine = trt.Runtime(_logger()).deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise RuntimeError(f"{self.path}: TensorRT could not deserialize the engine (built by another version?)")
        self.context = self.engine.create_execution_context()
        dtypes = {trt.float32: torch.float32, trt.float16: torch.float16, trt.bool: torch.bool}
        self.dtypes = {n: dtypes[self.engine.get_tensor_dtype(n)] for n in (*INPUT_NAMES, *OUTPUT_NAMES)}
        self.max_batch = int(self.engine.get_tensor_profile_shape(INPUT_NAMES[0], 0)[2][0])

    def _run(self, feed: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        B = feed["x"].shape[0]
        out = self._outputs(B)
        stream = torch.cuda.current_stream(self.device)
        for lo in range(0, B, self.max_batch):
            hi = min(B, lo + self.max_batch)
            part = {k: v[lo:hi].to(self.dtypes[k]).contiguous() for k, v in feed.items()}
            got = {k: torch.empty_like(v[lo:hi], dtype=self.dtypes[k]) for k, v in out.items()}
            for name, t in part.items():
                self.context.set_input_shape(name, tuple(t.shape))
            for name, t in [*part.items(), *got.items()]:
                self.context.set_tensor_address(name, t.data_ptr())
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError(f"{self.path}: TensorRT execution failed")
            for k, v in got.items():
                out[k][lo:hi] = v.float()
        return out[OUTPUT_NAMES[0]], out[OUTPUT_NAMES[1]]


__all__ = ["ENGINE_FILE", "TensorRTDenoiser", "build_engine", "tensorrt_status"]
