"""genlca.diffusion: the DiT denoiser and rectified-flow training / sampling, on a tiny model at R = 32."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from genlca.diffusion import FlowConfig, GenLCA_models, model_from_config, sample, training_loss
from genlca.diffusion.flow import guidance_terms, interpolate

R, P, S, L = 32, 8, 6, 4


pytestmark = pytest.mark.usefixtures("one_thread")


def _chart() -> torch.Tensor:
    """A stand-in UV chart: one rectangle, so some patches are partly and some not at all in the chart."""
    chart = torch.zeros(R, R, dtype=torch.bool)
    chart[2:30, 4:28] = True
    return chart


def _model(seed: int = 0, **kw):
    torch.manual_seed(seed)
    return GenLCA_models["tiny"](input_size=R, patch_size=P, shape_dim=S, chart=_chart(), **kw)


def _wake(model, seed: int = 0):
    """Give the zero-initialised layers (adaLN-Zero gates, output heads) small random weights: at DiT's init
    the output ignores everything upstream, so no gradient would reach the input or the learnable token."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim and not p.any():
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return model


def _text(B: int, g: torch.Generator) -> dict:
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 2:] = False  # padded caption
    return {"pooled": F.normalize(torch.randn(B, 384, generator=g), dim=1),
            "tokens": torch.randn(B, L, 384, generator=g), "mask": mask}


def _batch(B: int = 3, seed: int = 0, cond: bool = True) -> dict:
    g = torch.Generator().manual_seed(seed)
    valid = torch.rand(B, R, R, generator=g) > 0.3
    valid[:, :, : R // 2] = False  # the left half unobserved: whole patches go to the learnable token
    batch = {"maps": torch.randn(B, 14, R, R, generator=g), "shape": torch.randn(B, S, generator=g),
             "valid": valid, "chart": _chart(), "text": _text(B, g)}
    if cond:
        batch["cond"] = {"maps": torch.randn(B, 14, R, R, generator=g), "visibility": torch.rand(B, R, R, generator=g)}
    return batch


def _loss(model, batch, mode="visibility_aware", seed=0, **cfg):
    return training_loss(model, batch, mode, FlowConfig(**cfg), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------- model

def test_shapes_config_and_rebuild():
    model = _model()
    B = 2
    batch = _batch(B)
    x, s, t = batch["maps"], batch["shape"], torch.rand(B)
    v, vs = model(x, s, t, text=batch["text"], cond=batch["cond"], valid=batch["valid"])
    assert v.shape == (B, 14, R, R) and vs.shape == (B, S)
    v0, vs0 = model(x, s, t)  # no caption, no image, all observed
    as_object = SimpleNamespace(**batch["text"])  # like genlca.diffusion.text.TextBatch
    assert torch.equal(model(x, s, t, text=as_object)[0], model(x, s, t, text=batch["text"])[0])
    assert v0.shape == (B, 14, R, R) and vs0.shape == (B, S)
    assert model.pos_embed.shape == (1, (R // P) ** 2 + 1, model.config["hidden_size"])
    assert model.pos_embed.requires_grad and model.mask_token.requires_grad
    assert torch.equal(model.unpatchify(model.patchify(x)), x)

    # A checkpoint rebuilds from config + state dict (the chart travels in the state dict).
    _wake(model)
    clone = model_from_config(model.config)
    clone.load_state_dict(model.state_dict())
    assert torch.equal(clone.chart, _chart())
    model.eval(), clone.eval()
    for a, b in zip(clone(x, s, t, text=batch["text"]), model(x, s, t, text=batch["text"])):
        assert torch.equal(a, b)

    with pytest.raises(ValueError):
        GenLCA_models["tiny"](input_size=30, patch_size=8)
    sizes = {name: sum(p.numel() for p in f(input_size=R, patch_size=P).parameters())
             for name, f in GenLCA_models.items() if name in ("tiny", "XS", "S")}
    assert sizes["tiny"] < sizes["XS"] < sizes["S"], sizes  # XS: the CPU size between the test model and S
    for name in ("B", "L"):
        assert name in GenLCA_models


def test_patch_validity_rule():
    model = _model()
    chart = _chart()
    valid = torch.zeros(1, R, R, dtype=torch.bool)
    valid[0, :8, :8] = chart[:8, :8]  # patch (0, 0): every chart texel valid
    valid[0, :8, 8:16] = chart[:8, 8:16]
    valid[0, :5, 8:16] = False  # patch (0, 1): 3 of its 6 chart rows valid: exactly half -> valid
    valid[0, :6, 16:24] = False  # patch (0, 2): 2 of 6 chart rows -> invalid
    ok = model.patch_validity(valid & chart, chart).reshape(R // P, R // P)
    assert ok[0, 0] and ok[0, 1] and not ok[0, 2]
    assert not ok[1, 1]  # fully in the chart, nothing valid
    no_chart = torch.zeros(R, R, dtype=torch.bool)
    assert model.patch_validity(torch.zeros(1, R, R, dtype=torch.bool), no_chart).all()  # no chart texel: valid


# ---------------------------------------------------------------------------------------------- loss

def test_masked_loss_ignores_invalid_texels():
    model = _wake(_model())
    batch = _batch()
    invalid = ~(batch["valid"] & batch["chart"])  # (B, R, R)

    maps = batch["maps"].clone().requires_grad_(True)
    out = _loss(model, {**batch, "maps": maps})
    out.loss.backward()
    assert maps.grad[invalid[:, None].expand_as(maps)].abs().max() == 0  # nothing flows through invalid texels
    assert maps.grad[~invalid[:, None].expand_as(maps)].abs().max() > 0
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    # New values (input and target alike) in the invalid texels: same loss, same parameter gradients.
    model.zero_grad()
    changed = torch.where(invalid[:, None], 100 * torch.randn_like(batch["maps"]), batch["maps"])
    out2 = _loss(model, {**batch, "maps": changed})
    out2.loss.backward()
    assert torch.equal(out.loss, out2.loss)
    for name, p in model.named_parameters():
        if name in grads:
            assert torch.allclose(p.grad, grads[name], rtol=1e-5, atol=1e-7), name

    # The naive loss does see them.
    assert not torch.equal(_loss(model, {**batch, "maps": changed}, "naive").loss, _loss(model, batch, "naive").loss)


def test_learnable_token_used_only_when_visibility_aware():
    model = _wake(_model())
    batch = _batch()
    _loss(model, batch, "visibility_aware").loss.backward()
    assert model.mask_token.grad is not None and model.mask_token.grad.abs().max() > 0
    model.zero_grad(set_to_none=True)
    _loss(model, batch, "naive").loss.backward()
    assert model.mask_token.grad is None  # not in the graph at all


def test_drop_partial_keeps_only_fully_observed_samples():
    model = _wake(_model())
    batch = _batch(B=3)
    batch["valid"][1] = True  # sample 1 fully observed
    out = _loss(model, batch, "drop_partial")
    assert out.kept.item() == 1
    # Only sample 1 counts: the loss equals the loss of the same batch with the others' data replaced.
    other = batch["maps"].clone()
    other[[0, 2]] = 50.0
    shape = batch["shape"].clone()
    shape[[0, 2]] = -7.0
    assert torch.allclose(out.loss, _loss(model, {**batch, "maps": other, "shape": shape}, "drop_partial").loss)

    batch["valid"][1, 0, 10] = False  # one texel missing is still "fully observed" at full_share 0.98
    assert _loss(model, batch, "drop_partial").kept.item() == 1
    none = _loss(model, {**batch, "valid": torch.zeros(3, R, R, dtype=torch.bool)}, "drop_partial")
    assert none.kept.item() == 0 and none.loss.item() == 0 and none.loss.requires_grad

    assert _loss(model, batch, "naive").kept.item() == 3
    with pytest.raises(ValueError):
        _loss(model, batch, "everything")


def test_conditioning_dropout_and_path():
    x, noise, t = torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0.0, 1.0])
    assert torch.equal(interpolate(x, noise, t), torch.tensor([[1.0] * 3, [0.0] * 3]))  # t = 0 data, t = 1 noise
    model = _wake(_model())
    batch = _batch()
    all_dropped = _loss(model, batch, p_drop_text=1.0, p_drop_image=1.0).loss
    no_condition = _loss(model, {k: v for k, v in batch.items() if k not in ("text", "cond")}).loss
    assert torch.allclose(all_dropped, no_condition)  # dropped = the null condition the sampler uses
    assert not torch.allclose(_loss(model, batch, p_drop_text=0.0, p_drop_image=0.0).loss, no_condition)


# ---------------------------------------------------------------------------------------------- sampling

def test_guidance_terms():
    assert guidance_terms(True, True, 1.0, 1.0) == [(1.0, True, True)]  # scales of 1: one evaluation
    assert guidance_terms(True, True, 3.0, 1.5) == [(-0.5, False, False), (-1.5, False, True), (3.0, True, True)]
    assert guidance_terms(True, False, 2.0, 5.0) == [(-1.0, False, False), (2.0, True, False)]
    assert guidance_terms(False, False, 2.0, 2.0) == [(1.0, False, False)]


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_sampling_is_deterministic_per_seed(method):
    model = _wake(_model())
    batch = _batch(B=2)
    kw = dict(steps=4, method=method, text=batch["text"], cond=batch["cond"], cfg_text=2.0, cfg_image=1.5)
    a, sa = sample(model, 2, seed=1, **kw)
    b, sb = sample(model, 2, seed=1, **kw)
    c, _ = sample(model, 2, seed=2, **kw)
    assert a.shape == (2, 14, R, R) and sa.shape == (2, S)
    assert torch.equal(a, b) and torch.equal(sa, sb)
    assert not torch.allclose(a, c)
    assert (a[:, :, ~_chart()] == 0).all()  # off-chart texels carry nothing
    assert torch.isfinite(a).all()
    assert model.training  # the sampler restores the mode


# ---------------------------------------------------------------------------------------------- overfit

# Two token maps, each with its own caption. Logit-normal times centred towards noise: with two samples the
# hard part is t near 1 (the caption must pick the sample); lr decays to zero so the last weights are the
# settled ones.
OVERFIT_STEPS, OVERFIT_LR = 800, 3e-3
OVERFIT_FLOW = FlowConfig(t_mean=2.5, t_std=1.5, p_drop_text=0.0)


def _overfit_error(model, data, shape, text) -> float:
    """Mean squared error (chart texels) of Euler samples, each caption sampled with 2 seeds, against its map."""
    errs = []
    for seed in (0, 1):
        x, s = sample(model, 2, steps=20, method="euler", text=text, seed=seed)
        errs.append((x - data)[:, :, _chart()].square().mean() + (s - shape).square().mean())
    return float(torch.stack(errs).mean())


def overfit(seed: int = 0) -> tuple[float, float]:
    """(error of the untrained model's samples, error after training on the one batch)."""
    g = torch.Generator().manual_seed(seed)
    chart = _chart()
    # Smooth maps like real tokens (normalized: unit variance), zero off the chart.
    data = F.interpolate(torch.randn(2, 14, 8, 8, generator=g), size=R, mode="bilinear", align_corners=False)
    data = data / data.std() * chart
    shape = torch.randn(2, S, generator=g)
    text = _text(2, g)
    model = _model(seed)
    before = _overfit_error(model, data, shape, text)

    batch = {"maps": data.repeat(2, 1, 1, 1), "shape": shape.repeat(2, 1), "valid": chart.expand(4, R, R),
             "chart": chart, "text": {k: v.repeat(2, *([1] * (v.dim() - 1))) for k, v in text.items()}}
    opt = torch.optim.Adam(model.parameters(), lr=OVERFIT_LR)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=OVERFIT_LR, total_steps=OVERFIT_STEPS, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(OVERFIT_STEPS):
        loss = training_loss(model, batch, "visibility_aware", OVERFIT_FLOW, generator=gen).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # the 1/t-scaled velocity loss spikes now and then
        opt.step()
        sched.step()
    return before, _overfit_error(model, data, shape, text)


def test_tiny_model_overfits_one_batch():
    before, after = overfit()
    assert after * 10 <= before, (before, after)
