"""The exposition text, read back with Prometheus's own parser (``prometheus_client``)."""

from __future__ import annotations

from agentos_runtime.observability.instruments import Counter, Gauge, Histogram, render
from prometheus_client.parser import text_string_to_metric_families


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_counter_counts_per_label_values() -> None:
    counter = Counter("things_total", "Things.", ("kind",))
    counter.inc(("a",))
    counter.inc(("a",), 2)
    counter.inc(("b",))
    parsed = samples(render([counter]))
    assert parsed[("things_total", (("kind", "a"),))] == 3
    assert parsed[("things_total", (("kind", "b"),))] == 1
    assert counter.value(("c",)) == 0


def test_label_values_are_escaped() -> None:
    counter = Counter("odd_total", "Odd labels.", ("route",))
    counter.inc(('/a"b\\c\nd',))
    assert samples(render([counter])) == {("odd_total", (("route", '/a"b\\c\nd'),)): 1}


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    histogram = Histogram("wait_seconds", "Waits.", ("who",), (0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(("x",), value)
    parsed = samples(render([histogram]))
    who = ("who", "x")
    assert parsed[("wait_seconds_bucket", (("le", "0.1"), who))] == 2  # a value on a bound falls in it
    assert parsed[("wait_seconds_bucket", (("le", "1.0"), who))] == 3
    assert parsed[("wait_seconds_bucket", (("le", "+Inf"), who))] == 4
    assert parsed[("wait_seconds_count", (who,))] == 4
    assert abs(parsed[("wait_seconds_sum", (who,))] - 3.65) < 1e-9
    assert histogram.count(("x",)) == 4 and histogram.count(("y",)) == 0


def test_instruments_without_series_still_declare_their_type() -> None:
    text = render([Counter("none_total", "Nothing yet.", ("a",))]).decode()
    assert text == "# HELP none_total Nothing yet.\n# TYPE none_total counter\n"


def test_a_counter_adds_up_and_a_gauge_keeps_its_last_reading_each_rendered_sorted_under_its_type() -> None:
    labels = ("queue", "outcome")
    counter = Counter("jobs_total", "Jobs done.", labels)
    gauge = Gauge("jobs_waiting", "Jobs waiting.", labels)
    counter.inc(("b", "ok"))
    counter.inc(("a", "ok"), 2.5)
    counter.inc(("a", 'x"y'))
    gauge.set(("b", "ok"), 3)
    gauge.set(("a", "ok"), 7)
    gauge.set(("a", "ok"), 0.25)

    assert render([counter, gauge]).decode() == (
        "# HELP jobs_total Jobs done.\n"
        "# TYPE jobs_total counter\n"
        'jobs_total{queue="a",outcome="ok"} 2.5\n'
        'jobs_total{queue="a",outcome="x\\"y"} 1\n'
        'jobs_total{queue="b",outcome="ok"} 1\n'
        "# HELP jobs_waiting Jobs waiting.\n"
        "# TYPE jobs_waiting gauge\n"
        'jobs_waiting{queue="a",outcome="ok"} 0.25\n'
        'jobs_waiting{queue="b",outcome="ok"} 3\n'
    )
    assert (counter.value(("a", "ok")), gauge.value(("a", "ok"))) == (2.5, 0.25)
    assert (counter.value(("c", "ok")), gauge.value(("c", "ok"))) == (0, 0)


def test_time_to_first_token_is_told_apart_where_its_objectives_sit_and_up_to_a_minute() -> None:
    from agentos_runtime.observability.runtime_metrics import RuntimeMetrics

    metrics = RuntimeMetrics()
    for first_token in (1.2, 45.0):
        message = {"role": "assistant", "metrics": {"time_to_first_token": first_token, "duration": 50.0}}
        metrics.observe_run(
            {
                "run_id": "r",
                "agent_id": "a",
                "status": "COMPLETED",
                "model": "m",
                "model_provider": "p",
                "messages": [message],
            }
        )
    text = metrics.render().decode()
    name = "agentos_model_time_to_first_token_seconds_bucket"

    def bucket(le: str) -> str:
        return next(line for line in text.splitlines() if line.startswith(name) and f'le="{le}"' in line).split()[-1]

    # A 1.2 s first token and a 1.9 s one fell in one (1, 2.5] bucket; a reasoning model's 45 s in +Inf.
    assert (bucket("1.0"), bucket("1.5"), bucket("30.0"), bucket("60.0")) == ("0", "1", "1", "2")
