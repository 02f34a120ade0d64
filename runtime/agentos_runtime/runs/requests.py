"""A run's request: what starts one run of an agent, a team or a workflow.

The form fields of ``POST /{agents,teams,workflows}/{id}/runs`` that matter to a run, and a team
run's allowance of member runs, which its nested teams share (``MemberRuns``). A paused run going
on is asked for again with its stored message, run and session (``runs.runner``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class RunRequest:
    """One run of an agent, a team or a workflow: the form fields of its ``POST .../runs`` that matter to it.

    ``None`` overrides fall back to the component's config.
    """

    message: str
    session_id: str = field(default_factory=new_id)
    run_id: str = field(default_factory=new_id)
    user_id: str | None = None
    session_state: JSON | None = None
    metadata: JSON | None = None
    dependencies: JSON | None = None
    """Values ``{name}`` placeholders in the prompt may name (Agno's run ``dependencies``)."""
    add_session_state_to_context: bool | None = None
    add_dependencies_to_context: bool | None = None
    knowledge_filters: JSON | None = None
    """Metadata every chunk a knowledge search of the run finds must have (Agno's run
    ``knowledge_filters`` as a dict), for the search tool and ``add_knowledge_to_context``."""
    add_history_to_context: bool | None = None
    num_history_runs: int | None = None
    member_runs: MemberRuns | None = field(default=None, compare=False, repr=False)
    """A team member's request: what is left of the outermost team run's member runs, which
    its nested teams share (``None``: a run of its own, with a fresh allowance)."""


@dataclass(frozen=True)
class RunOptions:
    """What a continue of a paused run may send again for the rest of the run, as Agno's continue
    takes them: a run's dependencies, metadata, knowledge filters and context flags are not stored
    with it (dependencies may hold what must not be), so the steps and members that run after the
    pause get what the continue sends (the stored metadata when it sends none)."""

    dependencies: JSON | None = None
    metadata: JSON | None = None
    knowledge_filters: JSON | None = None
    add_dependencies_to_context: bool | None = None
    add_session_state_to_context: bool | None = None


@dataclass
class MemberRuns:
    """Member runs a team run may still start, its nested teams' included (one count, shared)."""

    left: int

    def take(self) -> bool:
        """Spend one run; ``False`` when none is left."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True
