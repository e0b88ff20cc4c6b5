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


# Held-out metrics of the evaluation report (genlca.eval.report) that decide promotion, and which way is better.
PROMOTION_METRICS: dict[str, str] = {"region_error": "min"}
DIRECTIONS = ("min", "max")
EVALUATION_FILE = "evaluation.json"  # the promoted checkpoint's report.json, kept in the production folder


def metric_value(report: dict, name: str) -> float:
    """A metric of an evaluation report; NaN when it is missing or was skipped."""
    return float((report.get("metrics", {}).get(name) or {}).get("value", math.nan))


def _protocol(report: dict) -> str:
    return report.get("protocol", {}).get("hash", "")


def stored_evaluation(paths: list[Path], weights: str, protocol: str | None = None) -> dict | None:
    """The first evaluation report among `paths` that evaluated these weights (a `weights_sha256` or its first 16
    characters) under this protocol hash (any, when None); None when no file fits."""
    for path in map(Path, paths):
        if path.is_file():
            report = json.loads(path.read_text())
            if weights and report.get("weights") == weights[:16] and protocol in (None, _protocol(report)):
                return report
    return None


def promotion_decision(candidate: dict, production: dict | None, metrics: dict[str, str] | None = None,
                       tolerance: float = 0.05) -> PromotionDecision:
    """Promote the candidate's evaluation report over production's? Both are report.json dicts (data_version,
    protocol, metrics). 'Not worse' = on every chosen metric (name -> "min" | "max": which way is better) the
    candidate is within `tolerance` x |production's value| of production's or better, when both were evaluated on
    the same token dataset version under the same evaluation protocol. A candidate without a finite value of a
    chosen metric is never promoted. Metrics on different data do not compare: then the candidate, trained and
    evaluated on the current data, is promoted. No production yet: promote."""
    metrics = PROMOTION_METRICS if metrics is None else dict(metrics)
    if not metrics:
        raise ValueError("choose at least one metric to promote on")
    if bad := {k: d for k, d in metrics.items() if d not in DIRECTIONS}:
        raise ValueError(f"directions must be one of {DIRECTIONS}, got {bad}")
    values = {k: metric_value(candidate, k) for k in metrics}
    if missing := [k for k, v in values.items() if not math.isfinite(v)]:
        return PromotionDecision(False, f"candidate has no finite {', '.join(missing)} ({values})")
    if production is None:
        return PromotionDecision(True, "no production checkpoint yet")
    if candidate.get("data_version") != production.get("data_version"):
        return PromotionDecision(True, "evaluated on another token_dataset version than production: metrics do not "
                                       "compare; the newer data wins")
    if _protocol(candidate) != _protocol(production):
        theirs = f"under protocol {_protocol(production)}" if _protocol(production) else "at all"
        return PromotionDecision(False, f"production, on the same token_dataset, was not evaluated {theirs}; the "
                                        f"candidate under {_protocol(candidate)}: evaluate production under the "
                                        f"candidate's protocol (evaluation_report does when it runs)")
    parts, worse = [], []
    for name, direction in metrics.items():
        c, p = values[name], metric_value(production, name)
        if not math.isfinite(p):
            parts.append(f"{name}: production has none")
            continue
        slack = tolerance * abs(p)
        ok = c <= p + slack if direction == "min" else c >= p - slack
        parts.append(f"{name} {c:.4g} vs production's {p:.4g} ({'lower' if direction == 'min' else 'higher'} is "
                     f"better, tolerance {tolerance:g}: {'ok' if ok else 'worse'})")
        worse += [] if ok else [name]
    verdict = f"worse on {', '.join(worse)}" if worse else "not worse"
    return PromotionDecision(not worse, f"{verdict}: {'; '.join(parts)} (same token_dataset, same protocol)")
