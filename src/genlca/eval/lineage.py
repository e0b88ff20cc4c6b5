"""Checkpoint lineage: every checkpoint reachable from some folders (their current export and the history/ copies
`archive_parent` keeps), ordered parent -> child, with metric deltas and what changed (data, code, config), as a
self-contained HTML page, JSON and a markdown table for Dagster metadata."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path

from genlca.io_utils import atomic_path, published

META_FILE = "checkpoint.json"  # as genlca.diffusion.train (not imported: that pulls in torch and Lightning)
HISTORY_DIR = "history"
# Run counters, not quality: kept out of the metric columns (the step has its own).
NOT_METRICS = {"steps", "resumed_from"}
HIGHER_IS_BETTER = ("samples_per_s", "psnr", "ssim", "accuracy", "fidelity")
CHANGES = (("data", "data_version"), ("code", "git_commit"), ("config", "config_hash"))


def _ident(meta: dict, path: Path) -> str:
    return str(meta.get("weights_sha256", ""))[:16] or str(meta.get("run_id") or path.stem)


def _model_size(model: dict) -> str:
    """'hidden x depth' of the DiT (what tells two checkpoints' sizes apart at a glance)."""
    if not isinstance(model, dict) or "hidden_size" not in model:
        return ""
    return f"{model['hidden_size']}x{model.get('depth', '?')}"


def _created(meta: dict, path: Path) -> str:
    """The time recorded in the checkpoint, else the file's modification time (UTC, ISO)."""
    for key in ("created", "created_at", "finished_at"):
        value = meta.get(key) or (meta.get("metrics") or {}).get(key)
        if value:
            return str(value)
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


def _metrics(meta: dict) -> dict:
    """Every numeric scalar metric (NaN kept as None so the JSON stays valid)."""
    out = {}
    for k, v in (meta.get("metrics") or {}).items():
        if k in NOT_METRICS or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        out[k] = float(v) if math.isfinite(v) else None
    return out


def _entry(meta: dict, path: Path, folder: Path, current: bool) -> dict:
    lineage = meta.get("lineage") or {}
    data = lineage.get("token_dataset") or {}
    parent = lineage.get("parent") or {}
    version = data.get("version") or (meta.get("dataset") or {}).get("version") or ""
    return {
        "id": _ident(meta, path), "folder": str(folder), "file": str(path), "locations": [str(path)],
        "step": meta.get("step"), "run_id": meta.get("run_id"), "created": _created(meta, path),
        "data_version": str(version)[:16], "train_samples": data.get("train_samples"),
        "git_commit": str(lineage.get("git_commit") or ""),
        "config_hash": str(lineage.get("config_hash") or meta.get("config_hash") or ""),
        "model_size": _model_size(meta.get("model")), "parent_id": parent.get("id"),
        "metrics": _metrics(meta), "current": current, "production": False,
    }


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable checkpoint record ({e})") from e


def collect_lineage(folders: list[str | os.PathLike], production: str | os.PathLike | None = None,
                    skip_missing: bool = False) -> list[dict]:
    """Every checkpoint in FOLDERS (checkpoint.json and history/*.json), one entry per weights hash, in lineage
    order with deltas and change flags (see `order_lineage`). production: the production folder (a folder named
    'production' is one too); its current export is flagged. A folder without checkpoint.json is an error
    naming it, unless skip_missing."""
    entries: dict[str, dict] = {}
    prod = Path(production).resolve() if production else None
    for folder in map(Path, folders):
        meta_file = folder / META_FILE
        if not meta_file.is_file():
            if skip_missing:
                continue
            raise FileNotFoundError(f"{folder}: no {META_FILE} (not a trained GenLCA checkpoint folder)")
        is_prod = folder.name == "production" or folder.resolve() == prod
        files = [(meta_file, True), *((p, False) for p in published(folder / HISTORY_DIR, "*.json"))]
        for path, current in files:
            e = _entry(_read(path), path, folder, current)
            e["production"] = is_prod and current
            seen = entries.get(e["id"])
            if seen is None:
                entries[e["id"]] = e
                continue
            # The same weights elsewhere (a production copy, an archived one): one entry, flags merged, the
            # record of a current export preferred (it is the one a user opens).
            seen["locations"].append(str(path))
            seen["production"] |= e["production"]
            if current and not seen["current"]:
                e["locations"], e["production"] = seen["locations"], seen["production"]
                entries[e["id"]] = e
    return order_lineage(list(entries.values()))


def order_lineage(entries: list[dict]) -> list[dict]:
    """Parent -> child chains (depth-first; roots and siblings oldest first; several roots allowed), each entry with
    'depth', 'base' (its parent's id, else the previous entry's), 'base_kind', 'deltas' {metric: this - base} and
    'changed' {data, code, config} against the parent (empty without one)."""
    by_id = {e["id"]: e for e in entries}
    children: dict[str | None, list[dict]] = {}
    for e in entries:
        parent = e["parent_id"] if e["parent_id"] in by_id and e["parent_id"] != e["id"] else None
        children.setdefault(parent, []).append(e)
    key = lambda e: (e["created"], e["step"] or 0, e["id"])  # noqa: E731
    ordered, seen = [], set()

    def visit(e: dict, depth: int) -> None:
        if e["id"] in seen:
            return
        seen.add(e["id"])
        e["depth"] = depth
        ordered.append(e)
        for child in sorted(children.get(e["id"], []), key=key):
            visit(child, depth + 1)

    for root in sorted(children.get(None, []), key=key):
        visit(root, 0)
    for e in sorted(entries, key=key):  # a parent cycle has no root: still listed
        visit(e, 0)
    for i, e in enumerate(ordered):
        parent = by_id.get(e["parent_id"]) if e["parent_id"] != e["id"] else None
        base = parent or (ordered[i - 1] if i else None)
        e["base"] = base["id"] if base else None
        e["base_kind"] = "parent" if parent else "previous" if base else None
        e["deltas"] = {k: (v - base["metrics"][k]) for k, v in e["metrics"].items()
                       if base and v is not None and base["metrics"].get(k) is not None}
        e["changed"] = {name: e[field] != parent[field] for name, field in CHANGES} if parent else {}
    return ordered


def lower_is_better(metric: str) -> bool | None:
    """True for losses, errors and times, False for throughput and scores, None when it is not known."""
    m = metric.lower()
    if any(w in m for w in HIGHER_IS_BETTER):
        return False
    if any(w in m for w in ("loss", "error", "seconds", "mse", "l1", "fid")):
        return True
    return None


def _improved(metric: str, delta: float) -> bool | None:
    lower = lower_is_better(metric)
    return None if lower is None or delta == 0 else (delta < 0) == lower


def metric_columns(entries: list[dict]) -> list[str]:
    """The metrics any entry has, the training losses first."""
    names = {k for e in entries for k in e["metrics"]}
    first = [k for k in ("loss_first", "loss_last", "samples_per_s", "seconds") if k in names]
    return first + sorted(names - set(first))


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def _changed_text(e: dict) -> str:
    if not e["changed"]:
        return f"parent {e['parent_id']} not found" if e["parent_id"] else "root"
    return ", ".join(k for k, v in e["changed"].items() if v) or "nothing"


def history_png(entries: list[dict]) -> bytes | None:
    """Loss (first and last steps) of each checkpoint in lineage order as PNG bytes; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: render to bytes only
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    cols = [k for k in metric_columns(entries) if lower_is_better(k) and "loss" in k] or \
        [k for k in metric_columns(entries) if k != "seconds"][:2]
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(entries) + 2), 3), dpi=100)
    x = range(len(entries))
    for k in cols:
        ys = [e["metrics"].get(k) for e in entries]
        ax.plot(x, [math.nan if y is None else y for y in ys], marker="o", lw=1.2, label=k)
    positive = all((e["metrics"].get(k) or 1) > 0 for e in entries for k in cols)
    ax.set_xticks(list(x), [e["id"][:8] for e in entries], rotation=30, fontsize=7)
    ax.set(xlabel="checkpoint (lineage order)", ylabel="loss", yscale="log" if positive and cols else "linear",
           title="metric history")
    if cols:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    """A PNG inline in HTML or markdown: pages that fetch nothing."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


def lineage_markdown(entries: list[dict], plot: bool = True) -> str:
    """A markdown table (one row a checkpoint, metric deltas in brackets) for Dagster metadata; plot: the metric
    history below it as an inline PNG."""
    cols = metric_columns(entries)
    head = ["checkpoint", "step", "data", "code", "config", "model", "parent", "changed", *cols]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in entries:
        tags = "".join([" (current)" if e["current"] else "", " (production)" if e["production"] else ""])
        cells = [f"{'&nbsp;' * 2 * e['depth']}{e['id']}{tags}", str(e["step"]), e["data_version"] or "none",
                 e["git_commit"][:12] or "unknown", e["config_hash"][:12], e["model_size"],
                 e["parent_id"] or "none", _changed_text(e)]
        for k in cols:
            d = e["deltas"].get(k)
            cells.append(_fmt(e["metrics"].get(k)) + (f" ({d:+.3g})" if d is not None else ""))
        rows.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    text = "\n".join(rows)
    png = history_png(entries) if plot and entries else None
    return text + (f"\n\n![metric history]({png_data_uri(png)})" if png else "")


CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l{text-align:left;font-family:monospace}.better{color:#0a7d28}.worse{color:#c0182b}
.flag{background:#fff2cc;border-radius:3px;padding:0 4px;margin-right:3px}.tag{color:#555;font-size:11px}
.d{font-size:11px;display:block}img{margin-top:1em;max-width:100%}"""


def lineage_html(entries: list[dict]) -> str:
    """The page `write_lineage_html` writes: no script, no stylesheet or image fetched (the plot is a data URI)."""
    esc = html.escape
    cols = metric_columns(entries)
    head = ["checkpoint", "step", "created", "data version", "git commit", "config", "model", "parent",
            "changed vs parent", *cols]
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>GenLCA checkpoint lineage</title>",
           f"<style>{CSS}</style></head><body><h1>GenLCA checkpoint lineage</h1>",
           f"<p>{len(entries)} checkpoints, parent &rarr; child. Deltas are against the parent (or the row above "
           "when there is none); green is better, red worse.</p><table><tr>",
           "".join(f"<th>{esc(h)}</th>" for h in head), "</tr>"]
    for e in entries:
        tags = "".join(f" <span class='tag'>{t}</span>" for t, on in (("current", e["current"]),
                                                                      ("production", e["production"])) if on)
        flags = "".join(f"<span class='flag'>{esc(k)}</span>" for k, v in e["changed"].items() if v) or \
            esc(_changed_text(e))
        cells = [f"<td class='l' title='{esc(e['folder'])}'>{'&nbsp;' * 3 * e['depth']}{esc(e['id'])}{tags}</td>",
                 f"<td>{esc(str(e['step']))}</td>", f"<td class='l'>{esc(e['created'])}</td>",
                 f"<td class='l'>{esc(e['data_version'] or 'none')}</td>",
                 f"<td class='l'>{esc(e['git_commit'][:12] or 'unknown')}</td>",
                 f"<td class='l'>{esc(e['config_hash'][:12])}</td>", f"<td>{esc(e['model_size'])}</td>",
                 f"<td class='l'>{esc(e['parent_id'] or 'none')}</td>", f"<td class='l'>{flags}</td>"]
        for k in cols:
            d = e["deltas"].get(k)
            better = _improved(k, d) if d is not None else None
            cls = {True: "better", False: "worse"}.get(better, "")
            delta = f"<span class='d {cls}'>{d:+.4g} vs {esc(e['base_kind'])}</span>" if d is not None else ""
            cells.append(f"<td>{_fmt(e['metrics'].get(k))}{delta}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    png = history_png(entries) if entries else None
    if png:
        out.append(f"<h2>Metric history</h2><img alt='metric history' src='{png_data_uri(png)}'>")
    out.append("</body></html>\n")
    return "".join(out)


def write_lineage_html(entries: list[dict], out: str | os.PathLike) -> Path:
    """One self-contained HTML file, written atomically (a temporary name, then renamed)."""
    with atomic_path(out) as tmp:
        tmp.write_text(lineage_html(entries), encoding="utf-8")
    return Path(out)


def write_lineage_json(entries: list[dict], out: str | os.PathLike) -> Path:
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps({"checkpoints": entries}, indent=1) + "\n")
    return Path(out)


__all__ = ["collect_lineage", "history_png", "lineage_html", "lineage_markdown", "lower_is_better",
           "metric_columns", "order_lineage", "png_data_uri", "write_lineage_html", "write_lineage_json"]
