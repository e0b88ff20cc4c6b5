"""Boxes, non-maximum suppression and the main-subject track of a video.

Detection gives every frame a list of candidate people; `main_track` links them across frames
by box overlap (IoU, allowing short gaps) and picks the subject: the track with the largest
summed person height (as a fraction of the frame), i.e. the largest and most persistent
person; candidates with a pose count fully, box-only candidates (people detector without a
pose) a quarter. Segments of the video where the only candidate person belongs to a track
that never overlaps the main one in time (a single-person video cut into shots) and that has
a pose in most of its frames are added to it, so a cut does not lose the subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

BOX_ONLY_WEIGHT = 0.25  # weight of candidates without a pose in the track score
GAP_DECAY = 0.8  # a track's overlap counts this much less for every frame it has been missing


def _intersections(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 4) x (M, 4) boxes (x0, y0, x1, y1) -> (N, M) intersection areas, (N,) and (M,) areas."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    return inter, np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1), np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) boxes (x0, y0, x1, y1) -> (N, M) intersection over union."""
    inter, area_a, area_b = _intersections(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_overlap_min(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) -> intersection over the smaller box's area (1 when one box holds the other)."""
    inter, area_a, area_b = _intersections(a, b)
    small = np.minimum(area_a[:, None], area_b[None, :])
    return np.where(small > 0, inter / np.maximum(small, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.4, contain: float = 0.8) -> list[int]:
    """Greedy non-maximum suppression: indices kept, best score first. A box is dropped when it
    overlaps a kept one by more than `iou` or lies mostly (`contain`) inside it or around it."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    order = list(np.argsort(-np.asarray(scores, np.float64), kind="stable"))
    keep: list[int] = []
    for i in order:
        if keep:
            k = boxes[keep]
            if (box_iou(boxes[i], k) > iou).any() or (box_overlap_min(boxes[i], k) > contain).any():
                continue
        keep.append(int(i))
    return keep


@dataclass
class Track:
    """One person across frames: frame index -> index of its candidate in that frame."""

    members: dict[int, int] = field(default_factory=dict)
    score: float = 0.0



def link_tracks(boxes: Sequence[np.ndarray], weights: Sequence[np.ndarray], height: int,
                iou_threshold: float = 0.2, max_gap: int = 8) -> list[Track]:
    """IoU linking. `boxes[t]` (N_t, 4) candidate boxes of frame t, `weights[t]` (N_t,) their
    score weights (1 with a pose, BOX_ONLY_WEIGHT without). Candidates and live tracks (seen at
    most `max_gap` frames back) are matched one to one, greedily, best pair first, on the
    overlap of the candidate with the track's last box shifted by its recent velocity (above
    `iou_threshold`, discounted by GAP_DECAY per missing frame); an unmatched candidate starts
    a new track. Track score: sum over its frames of weight * box height / frame height."""
    tracks: list[Track] = []
    last_box: list[np.ndarray] = []
    last_t: list[int] = []  # frame each track was last seen in
    velocity: list[np.ndarray] = []
    live: list[int] = []  # tracks seen at most max_gap frames back
    for t, (bt, wt) in enumerate(zip(boxes, weights)):
        bt = np.asarray(bt, np.float64).reshape(-1, 4)
        live = [k for k in live if t - last_t[k] <= max_gap]
        assigned = {}
        if live and len(bt):
            gaps = np.array([t - last_t[k] for k in live], np.float64)
            pred = np.stack([last_box[k] + velocity[k] * g for k, g in zip(live, gaps)])
            iou = box_iou(bt, pred)
            # Recently seen tracks first where two could take a candidate (people crossing).
            affinity = np.where(iou >= iou_threshold, iou * GAP_DECAY ** (gaps[None, :] - 1), 0.0)
            used = set()
            for flat in np.argsort(-affinity, axis=None, kind="stable"):  # greedy, best pair first
                i, j = divmod(int(flat), len(live))
                if affinity[i, j] <= 0:
                    break
                if i in assigned or j in used:
                    continue
                assigned[i] = live[j]
                used.add(j)
        for i in range(len(bt)):
            k = assigned.get(i)
            if k is None:
                tracks.append(Track())
                last_box.append(bt[i])
                last_t.append(t)
                velocity.append(np.zeros(4))
                k = len(tracks) - 1
                live.append(k)
            else:
                dt = t - last_t[k]
                v = (bt[i] - last_box[k]) / dt
                if wt[i] < 1.0:  # pose-less boxes (HOG, masks) jitter: they do not steer the track
                    v = 0.0 * v
                velocity[k] = 0.5 * velocity[k] + 0.5 * v if len(tracks[k].members) > 1 else v
                last_box[k] = bt[i]
                last_t[k] = t
            tracks[k].members[t] = i
            h = max(float(bt[i, 3] - bt[i, 1]), 0.0) / max(height, 1)
            tracks[k].score += float(wt[i]) * h
    return tracks


def main_track(boxes: Sequence[np.ndarray], weights: Sequence[np.ndarray], height: int,
               iou_threshold: float = 0.2, max_gap: int = 8) -> dict[int, int]:
    """The main subject: frame index -> candidate index (frames without it are absent)."""
    tracks = link_tracks(boxes, weights, height, iou_threshold, max_gap)
    if not tracks:
        return {}
    best = max(range(len(tracks)), key=lambda k: (tracks[k].score, -min(tracks[k].members)))
    chosen = dict(tracks[best].members)
    # Shots of a single-person video: add tracks that never share a frame with the chosen one
    # and that are, in every frame they have, the only candidate (best score first).
    singles = [tr for k, tr in enumerate(tracks) if k != best
               and all(len(np.asarray(boxes[t]).reshape(-1, 4)) == 1 for t in tr.members)
               and np.mean([float(np.asarray(weights[t]).reshape(-1)[i]) for t, i in tr.members.items()]) >= 0.5]
    for tr in sorted(singles, key=lambda tr: -tr.score):
        if not set(tr.members) & set(chosen):
            chosen.update(tr.members)
    return dict(sorted(chosen.items()))
