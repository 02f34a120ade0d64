"""The response models of the OpenAPI document use Agno's field names: every field a model
declares is a field of the Agno schema (or schemas) the route answers with in AgentOS."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from agentos_runtime.api import responses
from agentos_runtime.api.routes import knowledge_schemas as knowledge
from agno.os.routers.agents.schema import AgentResponse
from agno.os.routers.evals.schemas import EvalSchema
from agno.os.routers.knowledge.schemas import (
    ChunkerSchema,
    ConfigResponseSchema,
    ContentResponseSchema,
    ContentStatusResponse,
    ReaderSchema,
    RemoteContentSourceSchema,
    SourceFilesResponseSchema,
    VectorDbSchema,
    VectorSearchRequestSchema,
    VectorSearchResult,
)
from agno.os.routers.memory.schemas import UserMemorySchema, UserStatsSchema
from agno.os.routers.metrics.schemas import (
    DayAggregatedMetrics,
    MetricsRefreshResponse,
    MetricsRefreshStatusResponse,
    MetricsResponse,
)
from agno.os.routers.teams.schema import TeamResponse
from agno.os.routers.workflows.schema import WorkflowResponse
from agno.os.schema import (
    AgentSessionDetailSchema,
    AgentSummaryResponse,
    ConfigResponse,
    HealthResponse,
    InfoResponse,
    Model,
    ModelResponse,
    PaginationInfo,
    RunSchema,
    SessionRunPreviewSchema,
    SessionSchema,
    TeamRunSchema,
    TeamSessionDetailSchema,
    TeamSummaryResponse,
    WorkflowRunSchema,
    WorkflowSessionDetailSchema,
    WorkflowSummaryResponse,
)
from agno.run.agent import RunOutput
from agno.run.team import TeamRunOutput
from agno.run.workflow import WorkflowRunOutput
from pydantic import BaseModel

# Our model -> the Agno schemas whose fields it may name.
AGNO_SCHEMAS: dict[type[BaseModel], tuple[Any, ...]] = {
    responses.Health: (HealthResponse,),
    responses.Info: (InfoResponse,),
    responses.ModelSummary: (Model,),
    responses.ModelDetail: (ModelResponse,),
    responses.AgentSummary: (AgentSummaryResponse,),
    responses.AgentDetail: (AgentResponse,),
    responses.TeamSummary: (TeamSummaryResponse,),
    responses.TeamDetail: (TeamResponse,),
    responses.WorkflowSummary: (WorkflowSummaryResponse,),
    responses.WorkflowDetail: (WorkflowResponse,),
    responses.Config: (ConfigResponse,),
    responses.RunOutput: (RunOutput, TeamRunOutput, WorkflowRunOutput),
    responses.RunView: (RunSchema, TeamRunSchema, WorkflowRunSchema),
    responses.SessionRunPreview: (SessionRunPreviewSchema,),
    responses.PageMeta: (PaginationInfo,),
    responses.SessionSummary: (SessionSchema,),
    responses.SessionDetail: (AgentSessionDetailSchema, TeamSessionDetailSchema, WorkflowSessionDetailSchema),
    responses.Memory: (UserMemorySchema,),
    responses.UserMemoryStats: (UserStatsSchema,),
    responses.DayMetrics: (DayAggregatedMetrics,),
    responses.Metrics: (MetricsResponse,),
    responses.RefreshStarted: (MetricsRefreshResponse,),
    responses.RefreshStatus: (MetricsRefreshStatusResponse,),
    responses.EvalRun: (EvalSchema,),
    knowledge.ContentView: (ContentResponseSchema,),
    knowledge.ContentStatusView: (ContentStatusResponse,),
    knowledge.DeletedContent: (ContentResponseSchema,),
    knowledge.SearchResult: (VectorSearchResult,),
    knowledge.Reader: (ReaderSchema,),
    knowledge.Chunker: (ChunkerSchema,),
    knowledge.VectorDb: (VectorDbSchema,),
    knowledge.KnowledgeConfig: (ConfigResponseSchema,),
    knowledge.ContentSource: (RemoteContentSourceSchema,),
    knowledge.SourceFiles: (SourceFilesResponseSchema,),
    knowledge.SearchRequest: (VectorSearchRequestSchema,),
    knowledge.SearchMeta: (VectorSearchRequestSchema.Meta,),
}


def field_names(schema: Any) -> set[str]:
    if dataclasses.is_dataclass(schema):
        return {field.name for field in dataclasses.fields(schema)}
    return set(schema.model_fields)


@pytest.mark.parametrize("model", list(AGNO_SCHEMAS), ids=lambda model: model.__name__)
def test_every_field_of_the_model_is_one_of_agnos(model: type[BaseModel]) -> None:
    agnos = set().union(*(field_names(schema) for schema in AGNO_SCHEMAS[model]))
    assert sorted(set(model.model_fields) - agnos) == []


def test_the_run_preview_has_exactly_agnos_fields() -> None:
    assert set(responses.SessionRunPreview.model_fields) == field_names(SessionRunPreviewSchema)
