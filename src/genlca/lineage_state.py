"""Is the trained checkpoint stale? Compares the token dataset on disk with the one a checkpoint was trained on."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple


class RetrainDecision(NamedTuple):
    retrain: bool
    reason: str
    version: str  # the token dataset's current version ("" when there is none)


def dataset_version(info: dict) -> str:
    """The version `genlca_checkpoint` records in its lineage: the DVC hash when every drop has one, else the content
    hash (the same rule, so the two compare)."""
    return info.get("dvc_version") or info.get("version", "")


def trained_version(meta: dict) -> str:
    """The token dataset version a checkpoint.json was trained on."""
    return meta.get("lineage", {}).get("token_dataset", {}).get("version", "")


def retrain_decision(dataset_json: Path, checkpoint_json: Path) -> RetrainDecision:
    """No dataset: nothing to train on. No checkpoint, or one trained on another version: retrain."""
    dataset_json, checkpoint_json = Path(dataset_json), Path(checkpoint_json)
    if not dataset_json.is_file():
        return RetrainDecision(False, f"no token dataset at {dataset_json}", "")
    current = dataset_version(json.loads(dataset_json.read_text()))
    if not current:
        return RetrainDecision(False, f"{dataset_json} records no version", "")
    if not checkpoint_json.is_file():
        return RetrainDecision(True, f"no checkpoint yet; token_dataset is {current[:16]}", current)
    trained = trained_version(json.loads(checkpoint_json.read_text()))
    if trained == current:
        return RetrainDecision(False, f"checkpoint already trained on token_dataset {current[:16]}", current)
    return RetrainDecision(True, f"token_dataset changed: {trained[:16] or 'unknown'} -> {current[:16]}", current)


class PromotionDecision(NamedTuple):
    promote: bool
    reason: str


def promotion_decision(candidate: dict, production: dict | None, tolerance: float = 0.05) -> PromotionDecision:
    """'Not worse' = the candidate's final training loss (mean of its last steps) is finite and at most
    (1 + tolerance) x production's, when both were trained on the same token dataset version. Losses on different
    data do not compare: then the candidate, trained on the current data, is promoted. No production yet: promote."""
    loss = float(candidate.get("metrics", {}).get("loss_last", float("nan")))
    if not math.isfinite(loss):
        return PromotionDecision(False, f"candidate loss_last is not finite ({loss})")
    if production is None:
        return PromotionDecision(True, "no production checkpoint yet")
    if trained_version(candidate) != trained_version(production):
        return PromotionDecision(True, "trained on another token_dataset version than production: losses do not "
                                       "compare; the newer data wins")
    best = float(production.get("metrics", {}).get("loss_last", float("inf")))
    ok = loss <= best * (1 + tolerance)
    return PromotionDecision(ok, f"loss_last {loss:.4f} {'<=' if ok else '>'} {best:.4f} x {1 + tolerance:g} "
                                 f"(production, same token_dataset)")
