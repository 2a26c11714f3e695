"""Reading scheduler traces: spans per worker, the committed-prefix check and the timeline plot.

Every scheduler emits ``<action>_start`` / ``<action>_end`` per task (action ``draft``,
``verify`` or ``target``), ``cancel`` when a task is dropped and ``commit`` per committed
step. The concurrent schedulers add ``label=<piece> prefix=<pieces>`` to the detail of each
start event and ``label=<piece>`` to each commit, which lets ``commits_off_committed_prefix``
prove from the trace alone that every committed step was written on the committed prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dreamr.types import TraceEvent

logger = logging.getLogger(__name__)

TIMELINE_DIR = "timelines"
ACTION_COLORS = {"draft": "#2ca02c", "verify": "#1f77b4", "target": "#d62728"}
LANE_ORDER = ("draft", "verify", "target")


@dataclass(frozen=True)
class Span:
    """One task on one worker, from its start to its end event (seconds since the problem began)."""

    worker: str
    action: str
    step_index: int
    start_s: float
    end_s: float
    wasted: bool  # cancelled, or its result was never committed


def detail_fields(detail: str) -> dict[str, str]:
    """Parse ``key=value`` words of an event detail; other words are ignored."""
    fields = {}
    for word in detail.split():
        key, sep, value = word.partition("=")
        if sep:
            fields[key] = value
    return fields


def spans(events: Sequence[TraceEvent]) -> list[Span]:
    """Pair start and end events per worker and action; a task cut off by the end has no span.

    With labelled events, a draft or target task is wasted when its piece was never
    committed, and a check when the draft it judged was not written on the committed prefix.
    """
    open_tasks: dict[tuple[str, str], TraceEvent] = {}
    committed = [detail_fields(e.detail).get("label") for e in events if e.kind == "commit"]
    committed_set = set(committed)
    result = []
    for event in events:
        action, _, edge = event.kind.rpartition("_")
        if edge == "start":
            open_tasks[(event.worker, action)] = event
        elif edge == "end" and (event.worker, action) in open_tasks:
            start = open_tasks.pop((event.worker, action))
            fields = detail_fields(start.detail)
            wasted = event.detail == "cancelled"
            if "label" in fields and action == "verify":
                prefix = fields.get("prefix", "")
                wasted = wasted or not set(prefix.split(",") if prefix else []) <= committed_set
            elif "label" in fields:
                wasted = wasted or fields["label"] not in committed_set
            result.append(
                Span(event.worker, action, event.step_index, start.time_s, event.time_s, wasted)
            )
    return result


def commits_off_committed_prefix(events: Sequence[TraceEvent]) -> list[str]:
    """Describe each committed step whose writing task ran on anything but the steps committed
    before it (so also every step computed on a rejected prefix); empty when there is none.

    Needs the ``label=`` / ``prefix=`` details of the concurrent schedulers.
    """
    prefixes: dict[str, list[str]] = {}
    for event in events:
        if event.kind in ("draft_start", "target_start"):
            fields = detail_fields(event.detail)
            if "label" in fields:
                prefix = fields.get("prefix", "")
                prefixes[fields["label"]] = prefix.split(",") if prefix else []
    committed: list[str] = []
    problems = []
    for event in events:
        if event.kind != "commit":
            continue
        label = detail_fields(event.detail).get("label")
        if label is None:
            problems.append(f"step {event.step_index}: commit event has no label")
            continue
        prefix = prefixes.get(label)
        if prefix is None:
            problems.append(f"step {event.step_index} ({label}): no start event wrote it")
        elif prefix != committed:
            problems.append(
                f"step {event.step_index} ({label}) was written on [{','.join(prefix)}] "
                f"but the committed prefix was [{','.join(committed)}]"
            )
        committed.append(label)
    return problems


def plot_timeline(events: Sequence[TraceEvent], path: Path, title: str = "") -> Path:
    """Draw one lane per worker: task bars coloured by action, wasted tasks (cancelled or
    never committed) hatched, cancel events as crosses and commits as ticks on a lane of their own."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    task_spans = spans(events)
    workers = sorted({span.worker for span in task_spans}, key=_lane_key)
    lanes = [*workers, "commit"]
    row = {lane: position for position, lane in enumerate(lanes)}
    end_s = max((event.time_s for event in events), default=1.0) or 1.0

    figure, axis = plt.subplots(figsize=(11, 1.0 + 0.6 * len(lanes)))
    for span in task_spans:
        axis.barh(
            row[span.worker],
            max(span.end_s - span.start_s, end_s * 1e-3),
            left=span.start_s,
            height=0.6,
            color=ACTION_COLORS.get(span.action, "#7f7f7f"),
            alpha=0.35 if span.wasted else 0.9,
            hatch="//" if span.wasted else None,
            edgecolor="black",
            linewidth=0.4,
        )
    for event in events:
        if event.kind == "cancel" and event.worker in row:
            axis.plot(event.time_s, row[event.worker], marker="x", color="black", markersize=6)
        elif event.kind == "commit":
            color = (
                ACTION_COLORS["draft"]
                if "draft" in event.detail or event.worker == "draft"
                else ACTION_COLORS["target"]
            )
            axis.plot(
                event.time_s,
                row["commit"],
                marker="|",
                color=color,
                markersize=16,
                markeredgewidth=2,
            )
    axis.set_yticks(list(row.values()), lanes)
    axis.invert_yaxis()
    axis.set_xlabel("seconds since the problem started")
    axis.set_xlim(0, end_s * 1.02)
    legend = [Patch(color=color, label=action) for action, color in ACTION_COLORS.items()]
    legend.append(Patch(facecolor="white", edgecolor="black", hatch="//", label="wasted"))
    axis.legend(
        handles=legend,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=4,
        fontsize=8,
        frameon=False,
    )
    if title:
        axis.set_title(title, loc="left")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _lane_key(worker: str) -> tuple[int, str]:
    return (LANE_ORDER.index(worker) if worker in LANE_ORDER else len(LANE_ORDER), worker)
