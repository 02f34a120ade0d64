"""The operator's settings: one typed object, read from the environment once and passed down.

Every knob the operator has lives here, so the Helm chart, the CLI flags (which override the
environment) and the tests set the same fields. Durations are seconds as floats so tests can
use small values; the defaults suit a real cluster.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agentos_operator.render.rendering import DEFAULT_RUNTIME_IMAGE
from agentos_operator.spec import IMAGE_MAX_LENGTH, IMAGE_PATTERN

FIELD_MANAGER = "agentos-operator"


class OperatorSettings(BaseSettings):
    """What the operator runs with; environment variables are ``AGENTOS_<FIELD>`` unless noted."""

    # Durations are finite: ``inf`` (or ``1e309``, which reads as it) would wait forever.
    model_config = SettingsConfigDict(
        env_prefix="AGENTOS_", extra="ignore", populate_by_name=True, frozen=True, allow_inf_nan=False
    )

    runtime_image: str = Field(
        default=DEFAULT_RUNTIME_IMAGE,
        min_length=1,
        max_length=IMAGE_MAX_LENGTH,
        pattern=IMAGE_PATTERN,
        description="Image of resources that name none.",
    )
    runtime_fixed_user_ids: bool = Field(
        default=True,
        description=(
            "Run the runtimes' pods as the image's user and group, 10001 (also their fsGroup); false leaves the ids "
            "to the platform, as OpenShift's restricted SCC needs (it assigns each namespace a range of its own)."
        ),
    )
    namespaces: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        validation_alias=AliasChoices("WATCH_NAMESPACES", "AGENTOS_NAMESPACES", "namespaces"),
        description="Namespaces (or globs like `team-*`) to watch, a comma list; empty means all namespaces.",
    )
    resync_seconds: float = Field(
        default=300.0,
        gt=0,
        validation_alias=AliasChoices("AGENTOS_RESYNC_SECONDS", "AGENTOS_RESYNC_INTERVAL", "resync_seconds"),
        description="How often every resource is reconciled even when nothing changed.",
    )
    watch_secrets: bool = Field(
        default=True,
        description="Watch Secrets so a rotated one rolls the pods at once; without (no list/watch RBAC) the resync finds it.",
    )
    secret_retry_seconds: float = Field(
        default=30.0, gt=0, description="Delay before looking again for a referenced Secret that is missing."
    )
    error_retry_seconds: float = Field(
        default=2.0, gt=0, description="First delay after a failed API call; doubles on each failure in a row."
    )
    error_retry_max_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Longest delay between retries, and between looks at an unready resource's pods.",
    )
    failure_grace_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "How long a resource's writes may fail in a row for a reason that can pass on its own (refused 403 "
            "while an API server reads its RBAC, a 5xx such as an admission webhook that does not answer, 429, "
            "409) before its status says so (Ready=False, ApplyFailed); they are retried with backoff all along."
        ),
    )
    pods_grace_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "How long a rollout may make no progress before the operator lists its pods (pages of 20, no watch) "
            "to say in the status why they are not ready; looked at again after as long as it has been stuck. "
            "Pods refused only because the namespace's default ServiceAccount is not made yet are not said for as long."
        ),
    )
    max_concurrent_reconciles: int = Field(
        default=10, ge=1, description="Reconciles running at once, so a burst of resources cannot flood the API."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    metrics_port: int = Field(default=8080, ge=0, le=65535, description="Prometheus metrics port; 0 disables.")
    health_port: int = Field(default=8081, ge=0, le=65535, description="Liveness/readiness port; 0 disables.")
    leader_election: bool = Field(
        default=False, description="Run only while holding a Lease, so several replicas never both write."
    )
    lease_name: str = Field(default="agentos-operator", min_length=1)
    lease_namespace: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AGENTOS_LEASE_NAMESPACE", "POD_NAMESPACE", "lease_namespace"),
        description="Namespace of the Lease; the pod's own namespace by default.",
    )
    lease_duration_seconds: int = Field(
        default=15,
        ge=1,
        le=2**31 - 1,  # the Lease's spec.leaseDurationSeconds is an int32
        description="How long a Lease holds without renewal before another replica may take it.",
    )
    lease_retry_seconds: float = Field(
        default=2.0, gt=0, description="How often a standby replica checks whether the Lease is free."
    )
    pod_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("POD_NAME", "HOSTNAME", "pod_name"),
        description="This replica's identity in the Lease and in Events.",
    )
    api_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Timeout of one Kubernetes API request (the leader election's: at most a third of lease_duration_seconds).",
    )
    consistency_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long the operator trusts its own write over its watch before reconciling from the watch again.",
    )

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def cluster_wide(self) -> bool:
        return not self.namespaces

    @property
    def namespace_patterns(self) -> bool:
        """Whether ``namespaces`` holds a glob or a negation (``team-*``, ``!kube-*``), not only names."""
        return any(char in namespace for namespace in self.namespaces for char in "*?[!")

    @property
    def field_manager(self) -> str:
        return FIELD_MANAGER

    @property
    def identity(self) -> str:
        """This operator instance, as ``status.operator`` names it: ``<namespace>/<lease name>``.

        The chart gives each release its own Lease (its full name) in its own namespace, so two
        releases never share it, while the replicas of one release (and an upgrade's old and new
        pods) do. Outside a pod (no namespace), the lease name alone."""
        return f"{self.lease_namespace}/{self.lease_name}" if self.lease_namespace else self.lease_name

    @property
    def lease_request_timeout_seconds(self) -> float:
        """Timeout of the leader election's requests: ``api_timeout_seconds``, at most a third of the lease.

        Derived rather than validated, as kube-controller-manager gives its leader-election
        client the renew deadline as timeout: a renewal that hangs must fail while there is
        time left for another before the holder's renew deadline (two thirds of the lease),
        whatever timeout suits the operator's other requests. So no combination of the two
        settings is refused, and the defaults (30 s, 15 s) stay valid together.
        """
        return min(self.api_timeout_seconds, self.lease_duration_seconds / 3)

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff after ``attempt`` failures in a row (0 is the first retry)."""
        return float(min(self.error_retry_seconds * 2 ** min(attempt, 30), self.error_retry_max_seconds))
