"""The workflows every workflow test serves, on the local OpenAI-compatible server.

``pipeline``: two agent steps in a row. ``fanout``: a parallel group, then an agent that
merges. ``gate``: an agent, then a condition on its output (``contains: APPROVED``).
``numbers``: a lone condition (``matches``) without ``else_steps``. ``staffed``: a team step
(``crew`` leads ``writer``), then an agent. Agents run on ``member-model``, the team's leader
on ``leader-model``.
"""

from __future__ import annotations

from typing import Any

import yaml

LEADER_MODEL = "leader-model"
MEMBER_MODEL = "member-model"


def workflow_config(base_url: str) -> str:
    model: dict[str, Any] = {"base_url": base_url, "api_key_env": None, "max_retries": 0}
    document = {
        "os_id": "workflows-os",
        "models": [{"id": "fake", "model": MEMBER_MODEL, **model}, {"id": "lead", "model": LEADER_MODEL, **model}],
        "agents": [
            {"id": "writer", "name": "Writer"},
            {"id": "editor", "name": "Editor"},
            {"id": "critic", "name": "Critic"},
        ],
        "teams": [{"id": "crew", "name": "Crew", "model": "lead", "members": ["writer"]}],
        "workflows": [
            {
                "id": "pipeline",
                "name": "Pipeline",
                "description": "Draft, then edit.",
                "steps": [{"name": "draft", "agent": "writer"}, {"name": "edit", "agent": "editor"}],
            },
            {
                "id": "fanout",
                "steps": [
                    {
                        "name": "gather",
                        "parallel": [{"name": "one", "agent": "writer"}, {"name": "two", "agent": "critic"}],
                    },
                    {"name": "merge", "agent": "editor"},
                ],
            },
            {
                "id": "gate",
                "steps": [
                    {"name": "first", "agent": "writer"},
                    {
                        "name": "check",
                        "condition": {"contains": "APPROVED"},
                        "steps": [{"name": "publish", "agent": "editor"}],
                        "else_steps": [{"name": "revise", "agent": "critic"}],
                    },
                ],
            },
            {
                "id": "numbers",
                "steps": [
                    {
                        "name": "digits",
                        "condition": {"matches": r"^\d+$"},
                        "steps": [{"name": "count", "agent": "editor"}],
                    }
                ],
            },
            {"id": "staffed", "steps": [{"name": "team-step", "team": "crew"}, {"name": "polish", "agent": "editor"}]},
        ],
    }
    return yaml.safe_dump(document)
