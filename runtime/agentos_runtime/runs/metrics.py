"""Token and timing metrics in Agno's shapes: per model request, per message, per run.

Agno's metric dicts leave out zero counts and unset values (``MessageMetrics.to_dict``,
``RunMetrics.to_dict``), while ``ModelRequestCompleted`` events carry every count. The run's
``details.model`` lists one entry per (provider, model) with its summed tokens.
"""

from __future__ import annotations

from typing import Any

from agentos_runtime.llm.ports import Usage

JSON = dict[str, Any]

TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def usage_tokens(usage: Usage | None) -> dict[str, int]:
    """Every token count of one request (zeros included), for ``ModelRequestCompleted``."""
    if usage is None:
        return dict.fromkeys(TOKEN_FIELDS, 0)
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": 0,
        "reasoning_tokens": usage.reasoning_tokens,
    }


def _nonzero(values: dict[str, Any]) -> JSON:
    return {k: v for k, v in values.items() if v is not None and v != 0}


def message_metrics(usage: Usage | None, *, duration: float, time_to_first_token: float | None) -> JSON:
    """An assistant message's ``metrics`` (Agno's ``MessageMetrics.to_dict``)."""
    return _nonzero({**usage_tokens(usage), "duration": duration, "time_to_first_token": time_to_first_token})


def _counts(values: dict[str, Any]) -> dict[str, int]:
    return {
        key: values[key]
        for key in TOKEN_FIELDS
        if isinstance(values.get(key), int) and not isinstance(values.get(key), bool)
    }


class RunMetrics:
    """Accumulates a run's tokens across its model requests."""

    def __init__(self) -> None:
        self.tokens = dict.fromkeys(TOKEN_FIELDS, 0)
        self.time_to_first_token: float | None = None
        self._by_model: dict[tuple[str, str], dict[str, int]] = {}

    @classmethod
    def restored(cls, metrics: Any) -> RunMetrics:
        """A stored run's ``metrics`` taken up again (a paused run going on); what is not a count is left out."""
        restored = cls()
        if not isinstance(metrics, dict):
            return restored
        restored.tokens.update(_counts(metrics))
        ttft = metrics.get("time_to_first_token")
        if isinstance(ttft, int | float) and not isinstance(ttft, bool):
            restored.time_to_first_token = float(ttft)
        details = metrics.get("details")
        for entry in (details.get("model") if isinstance(details, dict) else None) or ():
            if isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("provider"), str):
                per_model = restored._by_model.setdefault(
                    (entry["provider"], entry["id"]), dict.fromkeys(TOKEN_FIELDS, 0)
                )
                per_model.update(_counts(entry))
        return restored

    def add(self, usage: Usage | None, *, model: str, provider: str) -> None:
        tokens = usage_tokens(usage)
        per_model = self._by_model.setdefault((provider, model), dict.fromkeys(TOKEN_FIELDS, 0))
        for key, value in tokens.items():
            self.tokens[key] += value
            per_model[key] += value

    def to_dict(self, *, duration: float | None) -> JSON:
        """The run's ``metrics`` (Agno's ``RunMetrics.to_dict``)."""
        metrics = _nonzero({**self.tokens, "time_to_first_token": self.time_to_first_token, "duration": duration})
        details = [
            {**_nonzero(tokens), "id": model, "provider": provider}
            for (provider, model), tokens in self._by_model.items()
        ]
        if details:
            metrics["details"] = {"model": details}
        return metrics
