"""The runtime's process settings: one typed object read from the environment at start-up.

What the config file declares (agents, models, databases) is the same in every deployment;
these settings are what differs between one process and the next: the security key or JWT
keys, where to listen, where embedded data lives, extra CORS origins, the metrics port, the log
level and format. ``serving`` builds one with ``Settings.from_environ(os.environ)`` and passes it
down; nothing reads the environment anywhere else, and ``Settings()`` alone is the defaults.

A plain pydantic model reads the few variables: a settings library would load dotenv files,
secrets directories and CLI parsing at every start (~25 ms of a ~0.5 s cold start) for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
LogFormat = Literal["text", "json"]

# Agno's control plane and its local development UI call the API from these origins.
CONTROL_PLANE_ORIGINS = (
    "http://localhost:3000",
    "https://agno.com",
    "https://www.agno.com",
    "https://app.agno.com",
    "https://os-stg.agno.com",
    "https://os.agno.com",
)

# A run request is a message plus a few JSON fields; 10 MiB leaves room for attached files
# while keeping one request from filling the process's memory.
# How `agentos render` marks a Secret value it does not know (``<placeholder:secret/key>``): a
# security key that is one is refused at start, as anyone reading the resource could send it.
PLACEHOLDER_PREFIX = "<placeholder:"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_BACKGROUND_RUNS = 32
# An eval makes a model call or two per iteration while its request waits: 4 at once keeps a
# replica's eval spending (tokens, memory, model rate limits) within what a few users need.
DEFAULT_MAX_EVAL_RUNS = 4

# Prometheus metrics live on their own port: AgentOS's API already has a `/metrics` route.
# 9464 is the port OpenTelemetry's Prometheus exporter made common.
DEFAULT_METRICS_PORT = 9464

# Seconds runs still going after SIGTERM may go on before they are ended (recorded CANCELLED,
# each stream closed with its RunCancelled event). With the seconds to close their streams and
# to record them after, shutdown stays within Kubernetes' default 30 s before SIGKILL.
DEFAULT_RUN_GRACE_SECONDS = 15.0


class Settings(BaseModel):
    """Everything the process needs besides the config file.

    Each field is set by the environment variable first in its ``validation_alias`` (see
    ``from_environ``) or, in code and tests, by its field name.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True)

    os_security_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OS_SECURITY_KEY", "os_security_key"),
        description="When set, every non-public route requires `Authorization: Bearer <key>`.",
    )
    host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("AGENT_OS_HOST", "host"),
        description="Address the API (and the metrics port) listens on; `--host` overrides it.",
    )
    port: int = Field(
        default=7777,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("AGENT_OS_PORT", "port"),
        description="Port the API listens on; `--port` overrides it.",
    )
    data_dir: Path = Field(
        default=Path("data"),
        validation_alias=AliasChoices("AGENTOS_DATA_DIR", "data_dir"),
        description="Where embedded SQLite files live; `--data-dir` overrides it.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("AGENTOS_CORS_ORIGINS", "cors_origins"),
        description="Origins allowed besides Agno's control plane; comma-separated in the environment.",
    )
    log_level: LogLevel = Field(
        default="info",
        validation_alias=AliasChoices("AGENTOS_LOG_LEVEL", "log_level"),
        description="Level of the runtime's own log lines (other libraries log from `warning`, or everything at `debug`).",
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        gt=0,
        validation_alias=AliasChoices("AGENTOS_MAX_BODY_BYTES", "max_body_bytes"),
        description="Largest request body accepted, in bytes; a larger one is refused with 413.",
    )
    jwt_verification_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("JWT_VERIFICATION_KEY", "jwt_verification_key"),
        description="PEM public key or shared secret verifying bearer JWTs; JWT mode wins over the security key.",
    )
    jwt_jwks_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("JWT_JWKS_FILE", "jwt_jwks_file"),
        description="JWKS file whose keys verify bearer JWTs (by `kid`); read again without a restart when a token names a kid it lacks (at most every 5 s) and at the first token a minute after the last read.",
    )
    metrics_port: int = Field(
        default=DEFAULT_METRICS_PORT,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("AGENTOS_METRICS_PORT", "metrics_port"),
        validate_default=True,  # the default port, too, may not be the API's
        description="Port serving Prometheus metrics at `/metrics` (on the API's host); 0 turns metrics off.",
    )
    run_grace_seconds: float = Field(
        default=DEFAULT_RUN_GRACE_SECONDS,
        ge=0,
        le=3600,
        validation_alias=AliasChoices("AGENTOS_RUN_GRACE_SECONDS", "run_grace_seconds"),
        description=(
            "Seconds after SIGTERM that runs in flight may still finish; those still going are then "
            "cancelled, recorded and their streams end with RunCancelled. Keep it at least 10 s under "
            "the pod's terminationGracePeriodSeconds."
        ),
    )
    max_background_runs: int = Field(
        default=DEFAULT_MAX_BACKGROUND_RUNS,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices("AGENTOS_MAX_BACKGROUND_RUNS", "max_background_runs"),
        description=(
            "Runs a replica lets go on in the background at once (background=true); beyond them a run "
            "asked for in the background is answered 503 with Retry-After."
        ),
    )
    max_eval_runs: int = Field(
        default=DEFAULT_MAX_EVAL_RUNS,
        ge=1,
        le=1000,
        validation_alias=AliasChoices("AGENTOS_MAX_EVAL_RUNS", "max_eval_runs"),
        description=(
            "Evals a replica runs at once (POST /eval-runs); beyond them an eval is answered 503 with "
            "Retry-After before it calls any model or stores anything."
        ),
    )
    log_format: LogFormat = Field(
        default="text",
        validation_alias=AliasChoices("AGENTOS_LOG_FORMAT", "log_format"),
        description="`text` lines, or `json`: one JSON object per line (uvicorn's lines too).",
    )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: object) -> Settings:
        """The settings the environment gives, with ``overrides`` (by field name) on top.

        Raises ``pydantic.ValidationError`` whose locations name the variable, e.g. ``AGENT_OS_PORT``.
        """
        values: dict[str, object] = {
            variable: environ[variable]
            for name, variable in ENVIRONMENT_VARIABLES.items()
            if name not in overrides and variable in environ
        }
        return cls.model_validate({**values, **overrides})

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("os_security_key", "jwt_verification_key", "jwt_jwks_file", mode="before")
    @classmethod
    def _empty_key_is_no_key(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("os_security_key", mode="before")
    @classmethod
    def _key_without_surrounding_whitespace(cls, value: object) -> object:
        # No Authorization header carries whitespace around its token: a key read from a file
        # (a Secret made with --from-file ends in a newline) would otherwise match no request.
        if not isinstance(value, str) or value == "":
            return None if value == "" else value
        key = value.strip()
        if not key:
            raise ValueError("OS_SECURITY_KEY is only whitespace: set a key, or unset it to turn the key check off")
        if key.startswith(PLACEHOLDER_PREFIX):
            raise ValueError(
                "OS_SECURITY_KEY is a placeholder `agentos render` wrote, which anyone reading the resource "
                "could send: set a real key (let the operator generate it, or render with --secrets-from a file "
                "that holds it)"
            )
        return key

    @field_validator("metrics_port")
    @classmethod
    def _metrics_port_is_not_the_api_port(cls, value: int, info: ValidationInfo) -> int:
        if value and value == info.data.get("port"):
            raise ValueError(
                f"metrics port {value} is also the API's port (AGENT_OS_PORT or --port): "
                "set AGENTOS_METRICS_PORT to another port, or 0 to turn metrics off"
            )
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def allowed_origins(self) -> list[str]:
        """Agno's control-plane origins followed by the extra ones, without duplicates."""
        return list(dict.fromkeys([*CONTROL_PLANE_ORIGINS, *self.cors_origins]))

    @property
    def security_key(self) -> str | None:
        return self.os_security_key.get_secret_value() if self.os_security_key is not None else None


def _variables() -> dict[str, str]:
    variables: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if not (isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str)):
            raise TypeError(f"Settings.{name} needs AliasChoices(<ENVIRONMENT_VARIABLE>, {name!r})")
        variables[name] = alias.choices[0]
    return variables


# Field name -> the environment variable that sets it.
ENVIRONMENT_VARIABLES = _variables()
