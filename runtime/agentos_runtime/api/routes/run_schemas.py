"""The run views of ``/sessions/{id}/runs`` and ``/agents/{id}/runs``: Agno's run schemas.

A stored run is Agno's ``RunOutput.to_dict()``; these pure functions turn one into
``RunSchema`` (agent runs), ``TeamRunSchema`` or ``WorkflowRunSchema`` with the same field
names, defaults and fallbacks, and ISO timestamps. Plain dicts, not pydantic models: a
session may hold hundreds of runs and nothing here needs validating.
"""

from __future__ import annotations

import json
from typing import Any

from agentos_runtime.api.timestamps import iso_utc

JSON = dict[str, Any]

_MEDIA_KEYS = ("images", "videos", "audio", "files")


def run_view(run: JSON) -> JSON:
    """The schema Agno's client picks for this run: workflow, team or agent, by its ids."""
    if run.get("workflow_id") is not None:
        return workflow_run_view(run)
    if run.get("team_id") is not None:
        return team_run_view(run)
    return agent_run_view(run)


def agent_run_view(run: JSON) -> JSON:
    view = _common(run)
    view["agent_id"] = run.get("agent_id", "")
    view["metadata"] = run.get("metadata")
    return view


def team_run_view(run: JSON) -> JSON:
    view = _common(run)
    view["team_id"] = run.get("team_id", "")
    view["user_id"] = run.get("user_id")
    return view


def workflow_run_view(run: JSON) -> JSON:
    view: JSON = {
        "run_id": run.get("run_id", ""),
        "run_input": run_input_text(run, workflow=True),
        "events": run.get("events", []),
        "workflow_id": run.get("workflow_id", ""),
        "user_id": run.get("user_id", ""),
        "content": run.get("content", ""),
        "content_type": run.get("content_type", ""),
        "status": run.get("status", ""),
        "cancellation_stage": run.get("cancellation_stage"),
        "metrics": run.get("metrics", {}),
        "step_results": run.get("step_results", []),
        "step_executor_runs": run.get("step_executor_runs", []),
        "created_at": iso_utc(run.get("created_at")),
        "reasoning_content": run.get("reasoning_content", ""),
        "reasoning_steps": run.get("reasoning_steps", []),
        "references": run.get("references", []),
        "citations": run.get("citations"),
        "reasoning_messages": run.get("reasoning_messages", []),
        "response_audio": run.get("response_audio"),
    }
    for key in _MEDIA_KEYS:
        view[key] = run.get(key, [])
    return view


def _common(run: JSON) -> JSON:
    view: JSON = {
        "run_id": run.get("run_id", ""),
        "parent_run_id": run.get("parent_run_id", ""),
        "user_id": run.get("user_id", ""),
        "status": run.get("status"),
        "cancellation_stage": run.get("cancellation_stage"),
        "run_input": run_input_text(run),
        "content": run.get("content", ""),
        "run_response_format": "text" if run.get("content_type", "str") == "str" else "json",
        "reasoning_content": run.get("reasoning_content", ""),
        "reasoning_steps": run.get("reasoning_steps", []),
        "metrics": run.get("metrics", {}),
        "messages": list(run["messages"]) if run.get("messages") else None,
        "tools": list(run["tools"]) if run.get("tools") else None,
        "events": list(run["events"]) if run.get("events") else None,
        "created_at": iso_utc(run.get("created_at")),
        "references": run.get("references", []),
        "citations": run.get("citations"),
        "reasoning_messages": run.get("reasoning_messages", []),
        "session_state": run.get("session_state"),
        "response_audio": run.get("response_audio"),
        "input_media": _input_media(run),
        "followups": run.get("followups"),
    }
    for key in _MEDIA_KEYS:
        view[key] = run.get(key, [])
    for key in ("forked_from_run_id", "forked_from_message_index", "forked_from_session_id", "regenerated_from"):
        view[key] = run.get(key)
    view["last_checkpoint_at_message_index"] = run.get("last_checkpoint_at_message_index")
    return view


def run_input_text(run: JSON, *, workflow: bool = False) -> str:
    """What the user asked: the stored input, else the last user message of the run."""
    given = run.get("input")
    if not workflow and isinstance(given, dict) and given.get("input_content") is not None:
        return input_text(given["input_content"])
    if workflow and given is not None:
        return input_text(given)
    for message in reversed(run.get("messages") or []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def input_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return json.dumps(content, indent=2, default=str)
    if isinstance(content, list) and content and isinstance(content[0], dict) and content[0].get("role") == "user":
        return str(content[0].get("content", content))
    return str(content)


def _input_media(run: JSON) -> JSON:
    given = run.get("input")
    media: JSON = {"images": [], "videos": [], "audios": [], "files": []}
    if isinstance(given, dict):
        for key in media:
            media[key].extend(given.get(key) or [])
    return media
