"""The Gantt chart of one business date: lanes, bars and a time axis computed from runs. Pure: no I/O,
no clock (``now_ms`` is given), so the geometry is unit-tested and the template only draws it.

* A lane per business domain or per agent (``by``), in name order; runs never placed on an agent
  share the lane ``NO_AGENT``. Bars that overlap in time go to rows of their own within the lane
  (first fit, in order of creation), at most ``MAX_ROWS_PER_LANE`` rows (more stack on the last).
* A bar runs from the run's creation to its end: the queued part (created -> started) is drawn
  lighter, the running part (started -> finished) in the colour of the run's state. A run not
  finished yet extends to ``now_ms``; one that never started is only a queued part.
* The axis spans the bars' earliest start to their latest end, rounded out to a tick step chosen
  so that there are at most ``MAX_TICKS`` ticks.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from wloadctl.console.filters import duration, format_ms
from wloadctl.proto.v1 import runs_pb2

RS = runs_pb2.RunState
BY = ("domain", "agent")
NO_AGENT = "(not placed)"
MAX_ROWS_PER_LANE = 200
MAX_TICKS = 12
# Geometry of the SVG, in its user units (the SVG scales to the page's width).
LABEL_WIDTH = 170        # the lane names, left of the plot
PLOT_WIDTH = 1000
RIGHT_MARGIN = 40        # room for the last tick's label
AXIS_HEIGHT = 28         # tick labels above the lanes
ROW_HEIGHT = 16
BAR_HEIGHT = 11
LANE_PADDING = 6         # above and below the rows of a lane
MIN_BAR_WIDTH = 2.0      # a run of a few milliseconds stays visible (and clickable)
_STEPS_MS = tuple(s * 1000 for s in (1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
                                     86400, 172800, 604800))
# Colour class of a run by its state (console.css: .gantt .s-ok ...); failed ones are red.
_STATE_CLASS = {RS.SUCCEEDED: "ok", RS.FAILED: "failed", RS.TIMED_OUT: "failed", RS.LOST: "failed",
                RS.KILLED: "killed", RS.SKIPPED: "skipped", RS.RUNNING: "running", RS.DISPATCHED: "running"}
_FINAL = frozenset({RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED, RS.SKIPPED, RS.LOST})


@dataclass(frozen=True)
class Bar:
    run_id: str
    job: str
    state: str           # the state's name (SUCCEEDED)
    css: str             # colour class: ok, failed, killed, skipped, running, waiting
    lane: str
    created_ms: int
    started_ms: int      # 0: never started
    end_ms: int          # finished, or now for a run not finished
    finished: bool
    agent: str
    domain: str
    row: int = 0         # within the lane
    x_queued: float = 0.0
    x_start: float = 0.0     # where the running part starts (== x_end when it never started)
    x_end: float = 0.0
    y: float = 0.0

    @property
    def height(self) -> int:
        return BAR_HEIGHT

    def describe(self, by: str) -> str:
        """The hover text: run, job, state, lane, times (UTC) and how long it waited and ran."""
        where = f"agent {self.agent or NO_AGENT}" if by == "domain" else f"domain {self.domain}"
        lines = [f"{self.run_id} · {self.job} · {self.state}", f"{by} {self.lane} · {where}",
                 f"created  {format_ms(self.created_ms)}"]
        if self.started_ms:
            lines.append(f"started  {format_ms(self.started_ms)}")
        lines.append(f"finished {format_ms(self.end_ms)}" if self.finished else "not finished yet")
        waited = duration((self.started_ms or self.end_ms) - self.created_ms)
        ran = f", ran {duration(self.end_ms - self.started_ms)}" if self.started_ms else ""
        lines.append(f"waited {waited}{ran}")
        return "\n".join(lines)

    @property
    def queued_width(self) -> float:
        return round(max(self.x_start - self.x_queued, 0.0), 2)

    @property
    def run_width(self) -> float:
        return round(max(self.x_end - self.x_start, 0.0), 2)


@dataclass
class Lane:
    name: str
    top: float = 0.0
    rows: int = 1
    bars: list[Bar] = field(default_factory=list)

    @property
    def height(self) -> float:
        return self.rows * ROW_HEIGHT + 2 * LANE_PADDING

    @property
    def label_y(self) -> float:
        return round(self.top + self.height / 2 + 4, 2)


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass
class Chart:
    lanes: list[Lane]
    ticks: list[Tick]
    start_ms: int
    end_ms: int
    width: int
    height: float
    now_x: float | None      # the "now" line when now is inside the axis
    counts: dict[str, int]   # runs per colour class

    @property
    def bars(self) -> list[Bar]:
        return [b for lane in self.lanes for b in lane.bars]

    @property
    def plot_left(self) -> int:
        return LABEL_WIDTH


def state_class(run: runs_pb2.Run) -> str:
    return _STATE_CLASS.get(run.state, "waiting")


def lane_of(run: runs_pb2.Run, by: str) -> str:
    if by == "agent":
        return run.agent_id or NO_AGENT
    return run.spec.domain or "default"


def tick_step(span_ms: int) -> int:
    """The smallest step of _STEPS_MS giving at most MAX_TICKS ticks over ``span_ms``."""
    for step in _STEPS_MS:
        if span_ms / step <= MAX_TICKS:
            return step
    return _STEPS_MS[-1]


def _tick_label(ms: int, step: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    if step >= 86_400_000:
        return moment.strftime("%m-%d")
    text = moment.strftime("%H:%M:%S" if step < 60_000 else "%H:%M")
    return moment.strftime("%m-%d ") + text if moment.hour == 0 and moment.minute == 0 and moment.second == 0 \
        else text


def _bar(run: runs_pb2.Run, by: str, now_ms: int) -> Bar:
    finished = run.state in _FINAL
    started = run.started_ms if run.started_ms >= run.created_ms else 0
    if finished:
        end = max(run.finished_ms or run.updated_ms or run.created_ms, started or run.created_ms)
    else:
        end = max(now_ms, started or run.created_ms, run.created_ms)
    return Bar(run_id=run.run_id, job=run.job_name, state=RS.Name(run.state) if run.state in RS.values() else
               str(run.state), css=state_class(run), lane=lane_of(run, by), created_ms=run.created_ms,
               started_ms=started, end_ms=end, finished=finished, agent=run.agent_id,
               domain=run.spec.domain or "default")


def layout(runs: Iterable[runs_pb2.Run], by: str, now_ms: int) -> Chart:
    """The chart of ``runs`` (any order), lanes by ``by`` (domain or agent)."""
    if by not in BY:
        raise ValueError(f"by: one of {', '.join(BY)}")
    bars = sorted((_bar(r, by, now_ms) for r in runs), key=lambda b: (b.created_ms, b.run_id))
    counts: dict[str, int] = {}
    for b in bars:
        counts[b.css] = counts.get(b.css, 0) + 1
    if not bars:
        return Chart([], [], 0, 0, LABEL_WIDTH + PLOT_WIDTH + RIGHT_MARGIN, AXIS_HEIGHT, None, counts)
    first = min(b.created_ms for b in bars)
    last = max(b.end_ms for b in bars)
    step = tick_step(max(last - first, 1))
    start = first - first % step
    end = last + (-last % step)
    if end <= start:
        end = start + step
    scale = PLOT_WIDTH / (end - start)

    def x(ms: int) -> float:
        return round(LABEL_WIDTH + (ms - start) * scale, 2)

    lanes: dict[str, Lane] = {}
    row_ends: dict[str, list[float]] = {}
    placed: dict[str, list[Bar]] = {}
    for b in bars:
        x_queued = x(b.created_ms)
        x_start = x(b.started_ms) if b.started_ms else x(b.end_ms)
        x_end = x(b.end_ms)
        if x_end - x_queued < MIN_BAR_WIDTH:  # keep every bar visible: widen its running (or queued) part
            x_end = round(x_queued + MIN_BAR_WIDTH, 2)
            if not b.started_ms:
                x_start = x_end
        ends = row_ends.setdefault(b.lane, [])
        row = next((i for i, e in enumerate(ends) if e <= x_queued), None)
        if row is None:
            if len(ends) < MAX_ROWS_PER_LANE:
                ends.append(0.0)
                row = len(ends) - 1
            else:
                row = MAX_ROWS_PER_LANE - 1  # stacked: drawn over others (still listed, still clickable)
        ends[row] = max(ends[row], x_end + 1)
        placed.setdefault(b.lane, []).append(replace(b, row=row, x_queued=x_queued, x_start=x_start, x_end=x_end))
    top = float(AXIS_HEIGHT)
    for name in sorted(placed):
        lane = Lane(name, top=top, rows=max(len(row_ends[name]), 1))
        lane.bars = [replace(b, y=round(top + LANE_PADDING + b.row * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2, 2))
                     for b in placed[name]]
        lanes[name] = lane
        top += lane.height
    ticks = [Tick(x(ms), _tick_label(ms, step)) for ms in range(start, end + 1, step)]
    now_x = x(now_ms) if start <= now_ms <= end else None
    return Chart(list(lanes.values()), ticks, start, end, LABEL_WIDTH + PLOT_WIDTH + RIGHT_MARGIN, top, now_x, counts)
