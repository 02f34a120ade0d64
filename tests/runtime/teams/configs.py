"""The teams every team test serves, on the local OpenAI-compatible server.

Leaders run on ``leader-model`` and members on ``member-model``, so a test tells the requests
apart by the model they name. ``crew`` coordinates (and forwards its members' events),
``desk`` routes, ``panel`` broadcasts, ``board`` leads ``crew`` (a team of teams).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.support.fake_openai import FakeToolCall

LEADER_MODEL = "leader-model"
MEMBER_MODEL = "member-model"


def team_config(base_url: str, **crew: Any) -> str:
    """The runtime file; ``crew`` overrides fields of the ``crew`` team."""
    model = {"base_url": base_url, "api_key_env": None, "max_retries": 0}
    document = {
        "os_id": "teams-os",
        "models": [{"id": "fake", "model": MEMBER_MODEL, **model}, {"id": "lead", "model": LEADER_MODEL, **model}],
        "agents": [
            {"id": "weather", "name": "Weather", "role": "Knows the weather"},
            {"id": "poet", "name": "Poet", "role": "Writes short poems"},
        ],
        "teams": [
            {
                "id": "crew",
                "name": "Crew",
                "model": "lead",
                "members": ["weather", "poet"],
                "stream_member_events": True,
                **crew,
            },
            {
                "id": "desk",
                "name": "Desk",
                "model": "lead",
                "mode": "route",
                "members": ["weather", "poet"],
                "stream_member_events": False,
            },
            {
                "id": "panel",
                "name": "Panel",
                "model": "lead",
                "mode": "broadcast",
                "members": ["weather", "poet"],
                "stream_member_events": False,
            },
            {"id": "board", "name": "Board", "model": "lead", "members": ["crew"], "stream_member_events": False},
        ],
    }
    return yaml.safe_dump(document)


def delegate(member_id: str, task: str, *, call_id: str = "call_1") -> FakeToolCall:
    """The leader's ``delegate_task_to_member`` call."""
    return FakeToolCall("delegate_task_to_member", json.dumps({"member_id": member_id, "task": task}), id=call_id)
