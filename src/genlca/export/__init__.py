"""The exported sampler: the denoiser as ONNX (torch's dynamo exporter) and a TensorRT fp16 engine, runtimes that
stand in for the PyTorch model in flow.sample (one sampling loop for every backend), and parity checks.

    export_sampler(checkpoint, out, ExportConfig(format="onnx"))       # sampler.py: the folder it writes
    model = runtime_for_checkpoint(checkpoint, backend="onnx")          # for flow.sample / AvatarGenerator
"""

from genlca.export.sampler import (BACKENDS, FORMATS, ExportConfig, export_sampler, load_runtime, read_config,
                                   runtime_for_checkpoint)
from genlca.export.tensorrt import tensorrt_status

__all__ = ["BACKENDS", "ExportConfig", "FORMATS", "export_sampler", "load_runtime", "read_config",
           "runtime_for_checkpoint", "tensorrt_status"]
