"""GenLCA diffusion: the DiT denoiser over UV token maps (model.py) and rectified-flow training / sampling (flow.py)."""

from genlca.diffusion.flow import FlowConfig, FlowLoss, sample, training_loss
from genlca.diffusion.model import GenLCA_models, GenLCADiT, model_from_config

__all__ = ["FlowConfig", "FlowLoss", "GenLCADiT", "GenLCA_models", "model_from_config", "sample", "training_loss"]
