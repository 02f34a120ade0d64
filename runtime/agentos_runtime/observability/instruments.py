"""Counters, gauges and histograms in Prometheus's text exposition format (version 0.0.4).

Written here rather than taken from ``prometheus_client`` because of the hot path: that
package costs about 40 ms to import (it loads its HTTP and WSGI servers), and each update goes
through per-child locks and label resolution. Here a series is a dict entry keyed by its label
values; an update is one lock and one dict write (under a microsecond). The lock matters only
because the exporter reads from its own thread.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import ClassVar

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_text(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _bound(value: float) -> str:
    """A bucket bound as Prometheus clients write it: ``1.0``, ``0.25``, ``+Inf``."""
    return "+Inf" if value == math.inf else repr(float(value))


class _SingleValue:
    """One number per label values, exposed as one sample each: what counters and gauges share."""

    kind: ClassVar[str]
    """The exposition ``TYPE``."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str]) -> None:
        self.name = name
        self.help_text = help_text
        self.labels = tuple(labels)
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def value(self, labels: Labels) -> float:
        """The series' number (0 for a series never updated)."""
        with self._lock:
            return self._values.get(labels, 0.0)

    def render(self) -> Iterator[str]:
        with self._lock:
            series = sorted(self._values.items())
        yield f"# HELP {self.name} {self.help_text}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in series:
            yield f"{self.name}{_label_text(self.labels, labels)} {_number(value)}"


class Counter(_SingleValue):
    """A monotonically increasing count per label values."""

    kind = "counter"

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount


class Histogram:
    """Observations counted into buckets (upper bounds, ``le``), with their sum and count."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        self.name = name
        self.help_text = help_text
        self.labels = tuple(labels)
        self.bounds = tuple(sorted(buckets))
        # Per series: one (non-cumulative) count per bound, one for +Inf, then the sum.
        self._series: dict[Labels, list[float]] = {}
        self._lock = threading.Lock()

    def observe(self, labels: Labels, value: float) -> None:
        index = bisect_left(self.bounds, value)
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = [0.0] * (len(self.bounds) + 2)
            series[index] += 1
            series[-1] += value

    def count(self, labels: Labels) -> int:
        """How many observations the series holds (0 for an unknown one)."""
        with self._lock:
            series = self._series.get(labels)
            return int(sum(series[:-1])) if series is not None else 0

    def render(self) -> Iterator[str]:
        with self._lock:
            snapshot = sorted((labels, list(series)) for labels, series in self._series.items())
        yield f"# HELP {self.name} {self.help_text}"
        yield f"# TYPE {self.name} histogram"
        for labels, series in snapshot:
            cumulative = 0.0
            for bound, count in zip((*self.bounds, math.inf), series[:-1], strict=True):
                cumulative += count
                le = f'le="{_bound(bound)}"'
                yield f"{self.name}_bucket{_label_text(self.labels, labels, le)} {_number(cumulative)}"
            yield f"{self.name}_sum{_label_text(self.labels, labels)} {_number(series[-1])}"
            yield f"{self.name}_count{_label_text(self.labels, labels)} {_number(cumulative)}"


class Gauge(_SingleValue):
    """A value per label values that goes up and down (set to the latest reading)."""

    kind = "gauge"

    def set(self, labels: Labels, value: float) -> None:
        with self._lock:
            self._values[labels] = value


def render(instruments: Sequence[Counter | Histogram | Gauge]) -> bytes:
    """The exposition text of every instrument."""
    lines = [line for instrument in instruments for line in instrument.render()]
    return ("\n".join(lines) + "\n").encode()
