"""The runtime config file: Agno's AgentOS YAML plus declarative models, databases and components.

One source of truth: these pydantic models validate the runtime file, and (through their
camelCase aliases) define the ``AgentOSConfig`` custom resource the operator's CRD is generated from.
"""

from agentos_runtime.config.authorization import DEFAULT_ADMIN_SCOPE, AuthorizationSettings, JwtAlgorithm
from agentos_runtime.config.components import (
    AgentConfig,
    LeafStep,
    StepCondition,
    TeamConfig,
    WorkflowConfig,
    WorkflowStep,
)
from agentos_runtime.config.databases import DEFAULT_URL_ENV, DatabaseConfig, DatabaseFields, TableNames
from agentos_runtime.config.document import DOMAINS, RuntimeConfig, RuntimeConfigFields, check_references
from agentos_runtime.config.llm import ModelConfig, ModelFields
from agentos_runtime.config.loading import dump_config, load_config, parse_config, parse_config_text
from agentos_runtime.config.problems import ConfigError, Problem, format_path, problems_from_validation_error

__all__ = [
    "DEFAULT_ADMIN_SCOPE",
    "DEFAULT_URL_ENV",
    "DOMAINS",
    "AgentConfig",
    "AuthorizationSettings",
    "ConfigError",
    "DatabaseConfig",
    "DatabaseFields",
    "JwtAlgorithm",
    "LeafStep",
    "ModelConfig",
    "ModelFields",
    "Problem",
    "RuntimeConfig",
    "RuntimeConfigFields",
    "StepCondition",
    "TableNames",
    "TeamConfig",
    "WorkflowConfig",
    "WorkflowStep",
    "check_references",
    "dump_config",
    "format_path",
    "load_config",
    "parse_config",
    "parse_config_text",
    "problems_from_validation_error",
]
