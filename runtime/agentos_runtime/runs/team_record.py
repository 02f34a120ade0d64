"""The record of one team run, and its ``TeamRunOutput`` dict as Agno returns and stores it.

A team run accumulates like an agent run (the leader's messages, tool executions, stored
events, token metrics), so it reuses ``RunRecord`` and only changes the shape it is written
in: ``team_id, team_name`` instead of the agent's ids, and ``member_responses`` holding each
member's own ``RunOutput`` (or nested ``TeamRunOutput``) dict, as AgentOS stores team runs
(its team route turns ``store_member_responses`` on); what the leader's knowledge searches found
is its ``references``, as for an agent. The members' runs travel inside the team
run, so one write stores the whole team run or nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.record import RunRecord, stored_fields, stored_list
from agentos_runtime.runs.team_events import UNSTORED_TEAM_EVENTS
from agentos_runtime.storage.ports import SessionRow

JSON = dict[str, Any]


class TeamRecord(RunRecord):
    """Everything one team run produced so far; mutated only by the team's run."""

    unstored = UNSTORED_TEAM_EVENTS

    def __init__(
        self,
        *,
        run_id: str,
        team_id: str,
        team_name: str,
        session_id: str,
        user_id: str | None,
        model: str,
        model_provider: str,
        input_content: str,
        metadata: JSON | None,
    ) -> None:
        super().__init__(
            run_id=run_id,
            agent_id=team_id,
            agent_name=team_name,
            session_id=session_id,
            user_id=user_id,
            model=model,
            model_provider=model_provider,
            input_content=input_content,
            metadata=metadata,
        )
        self.team_id = team_id
        self.team_name = team_name
        self.member_responses: list[JSON] = []

    @classmethod
    def from_stored(cls, run: JSON) -> TeamRecord:
        """A stored ``PAUSED`` team run, taken up again to go on (``RUNNING``), its members' runs with it."""
        team_id = str(run.get("team_id") or "")
        record = cls(**stored_fields(run), team_id=team_id, team_name=str(run.get("team_name") or team_id))
        record.restore(run)
        record.member_responses = stored_list(run, "member_responses")
        return record

    def to_dict(self, *, stored: bool = False) -> JSON:
        """The ``TeamRunOutput`` dict; ``stored=True`` gives the form written to the session."""
        paused = self.status == "PAUSED"
        output: JSON = {
            "run_id": self.run_id,
            "team_id": self.team_id,
            "team_name": self.team_name,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "input": {"input_content": self.input_content},
            "content": self.content,
            "content_type": "str",
            "messages": [m for m in self.messages if not (stored and m.get("from_history") and not paused)],
            "metrics": self.metrics_dict(),
            "model": self.model,
            "model_provider": self.model_provider,
            "member_responses": list(self.member_responses),
            "tools": list(self.tools),
            "requirements": self.requirements if paused else None,
            "references": list(self.references) or None,
            "model_provider_data": self.provider_data or None,
            "metadata": self.metadata,
            "session_state": self.session_state,
            "created_at": self.created_at,
            "events": list(self.events),
            "status": self.status,
        }
        return {key: value for key, value in output.items() if value is not None}


def new_team_session(
    session_id: str, team_id: str, team_name: str, model: ChatModel, record: TeamRecord, metadata: JSON | None
) -> SessionRow:
    """The ``agno_sessions`` row of a session a team run creates (Agno's ``TeamSession``)."""
    return SessionRow(
        session_id=session_id,
        session_type="team",
        created_at=record.created_at,
        team_id=team_id,
        user_id=record.user_id,
        session_data={"session_state": record.session_state},
        team_data={
            "name": team_name,
            "team_id": team_id,
            "model": {"name": model.name, "id": model.model, "provider": model.provider},
        },
        metadata=copy.deepcopy(metadata) if metadata else None,
        runs=[],
        updated_at=record.created_at,
    )
