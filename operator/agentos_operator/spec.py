"""The ``AgentOSConfig`` custom resource: spec and status models (camelCase, by alias).

The spec is the runtime config (shared fields from ``agentos_runtime.config``) plus what only
Kubernetes needs: Secret references instead of env var names, and deployment settings. These
models are the single source of the CRD (``agentos crd``) and of offline validation.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NoReturn

from agentos_runtime.config import AuthorizationSettings, DatabaseFields, ModelFields, RuntimeConfigFields
from agentos_runtime.config.base import Schema
from agentos_runtime.config.knowledge import (
    EmbedderFields,
    KnowledgeBaseFields,
    KnowledgeSourceFields,
    find_refused_source,
    source_url_field,
)
from agentos_runtime.config.mcp import HEADER_NAME_PATTERN, McpServerFields
from pydantic import Field, ValidationInfo, model_validator
from pydantic.config import JsonDict
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

# Kubernetes object names (RFC 1123 subdomain) and Secret (or ConfigMap) data keys.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$"
# A host an Ingress rule may name: a DNS name (RFC 1123 subdomain, labels of 1..63 characters).
HOST_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
# ... but not an IPv4 address, which such a name may look like and an Ingress host may not be.
IPV4_PATTERN = r"^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$"
# What an Ingress path of type Prefix may not hold (Kubernetes' Ingress validation).
INGRESS_PATH_PATTERN = r"^/[^\s?#]*$"
INGRESS_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INGRESS_PATH_SUFFIXES = ("/..", "/.")
# A container image reference as the kubelet parses it: an optional registry (a name with a '.'
# or a port, or localhost), lowercase path components, an optional tag and an optional digest.
_REGISTRY_PART = r"[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?"
_REGISTRY = rf"(localhost(:[0-9]+)?|{_REGISTRY_PART}(\.{_REGISTRY_PART})+(:[0-9]+)?|{_REGISTRY_PART}:[0-9]+)"
_PATH_PART = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = (
    rf"^({_REGISTRY}/)?{_PATH_PART}(/{_PATH_PART})*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]{{0,127}})?"
    r"(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
IMAGE_MAX_LENGTH = 1024
# A Prometheus duration as the Prometheus Operator's CRDs take it (``30s``, ``1m30s``): units from the largest.
PROMETHEUS_DURATION_PATTERN = r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"

POD_MONITOR_NEEDS_METRICS = (
    "prometheus.podMonitor.enabled needs prometheus.enabled: the PodMonitor scrapes the metrics port, which"
    " prometheus.enabled false turns off: set prometheus.enabled to true, or podMonitor.enabled to false"
)

# A sidecar's container is named ``mcp-<id>``; container names are DNS labels (63 characters).
MAX_SIDECAR_ID = 59
_CONFIG_MAP_KEY = re.compile(SECRET_KEY_PATTERN)
# The runtime container's port (``render.layout.PORT``), which no sidecar may take.
RUNTIME_PORT = 7777

# The labels the operator puts on every child (``render.layout.labels``), the pods' selector among them.
OPERATOR_POD_LABELS = frozenset(
    f"app.kubernetes.io/{name}" for name in ("component", "instance", "name", "managed-by", "part-of")
)

# Variables the operator gives the runtime, which `spec.env` may not replace (``_env_rules``): each
# pattern, and what to set instead; the data directory only with SQLite, the JWKS file only when
# the spec mounts one. AGENTOS_RUN_GRACE_SECONDS is left to the user on purpose.
_FROM_SECRETS = (
    "it is read from the Secrets the spec references: set the matching field instead "
    "(models[].apiKeySecretRef, databases[].urlSecretRef or cnpgClusterRef, securityKeySecretRef, "
    "jwtVerificationKeySecretRef, knowledgeBases[].embedder.apiKeySecretRef, mcpServers[] valueSecretRef)"
)
_DATA_DIR_ENV = (
    re.compile(r"AGENTOS_DATA_DIR"),
    "it is where the embedded SQLite databases live, on the resource's volume: elsewhere their data "
    "is lost at every restart; remove it",
)
_JWKS_FILE_ENV = (re.compile(r"JWT_JWKS_FILE"), "it is the JWKS mounted from spec.jwtJwksSecretRef: remove it")
OPERATOR_ENV: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"AGENTOS_METRICS_PORT"), "set spec.prometheus.port (or prometheus.enabled: false) instead"),
    (
        re.compile(
            r"OS_SECURITY_KEY|JWT_VERIFICATION_KEY|(OPENAI_API_KEY|DATABASE_URL|REDIS_URL)(_.*)?|KNOWLEDGE_.*_API_KEY|MCP_.*"
        ),
        _FROM_SECRETS,
    ),
)
# Names that say their value is a credential: never a literal in the resource (stored in clear text).
SECRET_LOOKING_ENV = re.compile(
    r"(^|_)(API_?KEY|SECRET|TOKEN|PASSWORD|PASSWD|PRIVATE_KEY|ACCESS_KEY|CREDENTIALS?)$", re.IGNORECASE
)

PRESERVE: JsonDict = {"x-kubernetes-preserve-unknown-fields": True}
OBJECT_ITEMS: JsonDict = {"items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}


class SecretKeyRef(Schema):
    """A key of a Secret in the resource's namespace."""

    name: str = Field(pattern=NAME_PATTERN, max_length=253, description="Secret name.")
    key: str = Field(pattern=SECRET_KEY_PATTERN, max_length=253, description="Key within the Secret's data.")


class LocalSecretRef(Schema):
    """A Secret in the resource's namespace, by name."""

    name: str = Field(pattern=NAME_PATTERN, max_length=253, description="Secret name.")


class CnpgClusterRef(Schema):
    """A CloudNativePG cluster; its `<name>-app` Secret's `uri` key gives the database URL."""

    name: str = Field(pattern=NAME_PATTERN, max_length=253, description="CloudNativePG Cluster name.")


class ModelSpec(ModelFields):
    """A chat model; its API key is read from a Secret."""

    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the API key. Omit only for endpoints that need no key (local vLLM, Ollama).",
    )


class DatabaseSpec(DatabaseFields):
    """A database; its URL is read from a Secret (or from a CloudNativePG cluster's app Secret)."""

    url_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the URL (`postgresql://...` or `redis://...`). Required for redis; for postgres set this or `cnpgClusterRef`.",
    )
    cnpg_cluster_ref: CnpgClusterRef | None = Field(
        default=None,
        description="CloudNativePG cluster whose `<name>-app` Secret (key `uri`) gives the URL; postgres only.",
    )

    def server(self) -> object:
        if self.url_secret_ref is not None:
            return ("secret", self.url_secret_ref.name, self.url_secret_ref.key)
        if self.cnpg_cluster_ref is not None:
            return ("cnpg", self.cnpg_cluster_ref.name)
        return self.id

    @model_validator(mode="after")
    def _one_url_source(self) -> DatabaseSpec:
        url, cnpg = self.url_secret_ref is not None, self.cnpg_cluster_ref is not None
        if self.type == "sqlite" and url:
            _reject(self, "urlSecretRef", "a sqlite database takes no urlSecretRef: remove it")
        if self.type != "postgres" and cnpg:
            _reject(
                self,
                "cnpgClusterRef",
                f"cnpgClusterRef is for postgres databases: remove it from this {self.type} database",
            )
        if self.type == "redis" and not url:
            _reject(
                self,
                "urlSecretRef",
                "a redis database needs urlSecretRef: point it at a Secret key holding redis://...",
            )
        if self.type == "postgres" and url == cnpg:
            _reject(
                self,
                "urlSecretRef",
                "a postgres database needs exactly one of urlSecretRef, cnpgClusterRef: "
                + ("remove one" if url else "add one"),
            )
        return self


class Autoscaling(Schema):
    """A HorizontalPodAutoscaler for the runtime Deployment."""

    enabled: bool = Field(
        default=False, description="Create a HorizontalPodAutoscaler; `replicas` must then be omitted."
    )
    min_replicas: int = Field(default=1, ge=1, le=1000, description="Fewest replicas.")
    max_replicas: int = Field(default=3, ge=1, le=1000, description="Most replicas.")
    target_cpu_utilization_percentage: int = Field(
        default=80, ge=1, le=100, description="Average CPU utilisation the autoscaler aims for."
    )

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            _reject(
                self,
                "minReplicas",
                f"minReplicas ({self.min_replicas}) must not exceed maxReplicas ({self.max_replicas})",
            )
        return self


class ResourceList(Schema):
    """Amounts of CPU and memory."""

    cpu: str | None = Field(default=None, pattern=QUANTITY_PATTERN, description="CPU, e.g. `250m` or `1`.")
    memory: str | None = Field(default=None, pattern=QUANTITY_PATTERN, description="Memory, e.g. `256Mi`.")
    ephemeral_storage: str | None = Field(
        default=None, alias="ephemeral-storage", pattern=QUANTITY_PATTERN, description="Ephemeral storage, e.g. `1Gi`."
    )


class Resources(Schema):
    """Compute resources of the runtime container."""

    requests: ResourceList = Field(
        default_factory=lambda: ResourceList(cpu="100m", memory="128Mi"), description="Guaranteed resources."
    )
    limits: ResourceList = Field(default_factory=lambda: ResourceList(memory="512Mi"), description="Upper bounds.")


class ServiceSpec(Schema):
    """The Service in front of the runtime."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(default="ClusterIP", description="Service type.")
    port: int = Field(default=7777, ge=1, le=65535, description="Service port.")
    node_port: int | None = Field(
        default=None,
        ge=30000,
        le=32767,
        description="Fixed node port for type NodePort or LoadBalancer; the cluster picks one when omitted.",
    )
    annotations: dict[str, str] | None = Field(
        default=None,
        description=(
            "Annotations on the Service, such as a cloud load balancer's settings (an internal one, its "
            "health check); annotations other controllers add are kept."
        ),
    )
    load_balancer_source_ranges: list[str] | None = Field(
        default=None,
        max_length=64,
        description=(
            "Client address ranges (CIDRs, e.g. `10.0.0.0/8`) a LoadBalancer Service admits; every address "
            "when omitted. Only with type LoadBalancer."
        ),
    )

    @model_validator(mode="after")
    def _node_port_needs_node_ports(self) -> ServiceSpec:
        if self.node_port is not None and self.type == "ClusterIP":
            raise ValueError("service.nodePort needs service.type NodePort or LoadBalancer")  # mirrored in crd.RULES
        if self.load_balancer_source_ranges is not None and self.type != "LoadBalancer":
            # mirrored in crd.RULES
            raise ValueError("service.loadBalancerSourceRanges needs service.type LoadBalancer")
        return self


class Persistence(Schema):
    """The volume holding embedded SQLite databases (the claim `<name>-data`), so sessions survive pod
    restarts. It is one ReadWriteOnce volume: a rollout stops the pod before starting the next
    (the Recreate strategy, a moment with no pod serving); use postgres or redis for rollouts with
    no gap. The claim belongs to the resource: deleting the resource deletes it with its data
    (`kubectl delete --cascade=orphan` keeps it)."""

    size: str = Field(
        default="1Gi",
        pattern=QUANTITY_PATTERN,
        description="Volume size; it may grow where the StorageClass allows expansion, never shrink.",
    )
    storage_class_name: str | None = Field(
        default=None,
        description="StorageClass; the cluster default when omitted. Fixed once the claim exists.",
    )


class NetworkPolicySpec(Schema):
    """A NetworkPolicy restricting traffic to the runtime pods."""

    enabled: bool = Field(default=False, description="Create a NetworkPolicy.")
    ingress_from: list[dict[str, Any]] | None = Field(
        default=None,
        description="NetworkPolicyPeer entries allowed to reach the runtime; every pod in the namespace when omitted.",
        json_schema_extra=OBJECT_ITEMS,
    )
    restrict_egress: bool = Field(
        default=False,
        description="Also restrict the pods' egress: DNS, the declared MCP servers, models' and embedders' `baseUrl`s and knowledge source `url`s are allowed, plus the rules in `egress` (databases, hosts of URL content uploaded later, anything else the runtime must reach).",
    )
    egress: list[dict[str, Any]] | None = Field(
        default=None,
        description="Extra NetworkPolicyEgressRule entries when `restrictEgress` is on.",
        json_schema_extra=OBJECT_ITEMS,
    )


class IngressTls(Schema):
    """TLS for the Ingress host, terminated by the ingress controller."""

    secret_name: str = Field(
        pattern=NAME_PATTERN,
        max_length=253,
        description=(
            "Secret of type `kubernetes.io/tls` in the resource's namespace holding the host's certificate and key;"
            " named only, read by the ingress controller, never by the operator."
        ),
    )


class IngressSpec(Schema):
    """An Ingress exposing the runtime (its API, which Agno's control-plane UI talks to) at a host name."""

    enabled: bool = Field(default=False, description="Create an Ingress; `host` is then required.")
    class_name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        max_length=253,
        description="IngressClass of the Ingress; the cluster's default class when omitted.",
    )
    host: str | None = Field(
        default=None,
        pattern=HOST_PATTERN,
        max_length=253,
        description="DNS name clients reach the runtime at, e.g. `agents.example.com` (no IP address, no port).",
    )
    path: str = Field(
        default="/",
        pattern=INGRESS_PATH_PATTERN,
        max_length=1024,
        description=(
            "Path prefix routed to the runtime (pathType `Prefix`); the runtime serves its API at the root, so"
            " a prefix other than `/` needs the ingress controller to strip it (its `annotations`)."
        ),
    )
    annotations: dict[str, str] | None = Field(
        default=None,
        description=(
            "Annotations on the Ingress: the ingress controller's settings (timeouts, body size, rewrites, a"
            " certificate issuer); annotations other controllers add are kept."
        ),
    )
    tls: IngressTls | None = Field(
        default=None, description="Serve the host over HTTPS with the certificate of a Secret; plain HTTP when omitted."
    )

    @model_validator(mode="after")
    def _host_and_path(self) -> IngressSpec:
        # mirrored in crd.RULES
        if self.enabled and self.host is None:
            _reject(self, "host", "an enabled ingress needs host: the DNS name clients reach the runtime at")
        if self.host is not None and re.fullmatch(IPV4_PATTERN, self.host):
            _reject(self, "host", f"'{self.host}' is an IP address: an Ingress host must be a DNS name")
        for sequence in INGRESS_PATH_SEQUENCES:
            if sequence in self.path:
                _reject(self, "path", f"a path of type Prefix must not contain '{sequence}'")
        for suffix in INGRESS_PATH_SUFFIXES:
            if self.path.endswith(suffix):
                _reject(self, "path", f"a path of type Prefix must not end with '{suffix}'")
        return self

    @property
    def url(self) -> str | None:
        """Where clients reach the runtime through the Ingress; None when it is off."""
        if not self.enabled or self.host is None:
            return None
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}{self.path}"


class PodMonitorSpec(Schema):
    """A Prometheus Operator PodMonitor scraping the runtime pods' metrics port."""

    enabled: bool = Field(
        default=False,
        description=(
            "Create a `monitoring.coreos.com/v1` PodMonitor selecting the runtime pods; needs `prometheus.enabled`"
            " and the Prometheus Operator's CRDs in the cluster."
        ),
    )
    labels: dict[str, str] | None = Field(
        default=None,
        description=(
            "Labels on the PodMonitor, so that a Prometheus's `podMonitorSelector` selects it (kube-prometheus-stack:"
            " `release: <its release name>`); the operator's own `app.kubernetes.io/*` labels cannot be set."
        ),
    )
    interval: str | None = Field(
        default=None,
        pattern=PROMETHEUS_DURATION_PATTERN,
        min_length=2,
        max_length=32,
        description="How often Prometheus scrapes the pods, a Prometheus duration (`30s`, `1m`); its global interval when omitted.",
    )

    @model_validator(mode="after")
    def _own_labels(self) -> PodMonitorSpec:
        for key in self.labels or {}:
            if key in OPERATOR_POD_LABELS:
                _reject(
                    self,
                    ("labels", key),
                    f"'{key}' is a label the operator sets on its children and watches them by: choose another key",
                )
        return self


class RuntimeMetrics(Schema):
    """Prometheus metrics of the runtime, on a port of their own (AgentOS's `/metrics` is an API route)."""

    enabled: bool = Field(default=True, description="Serve Prometheus metrics and annotate the pods for scraping.")
    port: int = Field(default=9464, ge=1024, le=65535, description="Container port of the metrics endpoint.")
    pod_monitor: PodMonitorSpec | None = Field(
        default=None,
        description=(
            "Optional Prometheus Operator PodMonitor for the runtime pods (kube-prometheus-stack and the like), "
            "scraping the metrics port by name at `/metrics`."
        ),
    )

    @model_validator(mode="after")
    def _pod_monitor_needs_metrics(self) -> RuntimeMetrics:
        # mirrored in crd.RULES
        if self.pod_monitor is not None and self.pod_monitor.enabled and not self.enabled:
            _reject(self, ("podMonitor", "enabled"), POD_MONITOR_NEEDS_METRICS)
        return self


class EnvVar(Schema):
    """An extra environment variable of the runtime container."""

    name: str = Field(pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", description="Variable name.")
    value: str | None = Field(default=None, description="Literal value.")
    value_from: dict[str, Any] | None = Field(
        default=None, description="Source of the value (an EnvVarSource).", json_schema_extra=PRESERVE
    )


class McpValueFields(Schema):
    """A header or environment variable of an MCP server: a literal value or a Secret key."""

    value: str | None = Field(default=None, description="The value itself; for anything secret use `valueSecretRef`.")
    value_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding the value (passed to the runtime through its env Secret)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> McpValueFields:
        if (self.value is None) == (self.value_secret_ref is None):
            _reject(self, "value", "set exactly one of value, valueSecretRef")
        return self


class McpHeaderSpec(McpValueFields):
    """An HTTP header sent with every request to the MCP server."""

    name: str = Field(pattern=HEADER_NAME_PATTERN, max_length=256, description="Header name, e.g. `Authorization`.")


class McpEnvSpec(McpValueFields):
    """An environment variable of a stdio MCP server's process."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=256, description="Variable name.")


class McpSidecarEnvSpec(McpEnvSpec):
    """An environment variable of a sidecar MCP server's container."""

    value_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the value, read by the sidecar's container alone (never by the runtime container).",
    )


class McpSidecar(Schema):
    """An MCP server run as a container of the runtime pod, from an image you name.

    It runs as a native sidecar (started, and answering on its port, before the runtime starts)
    under the same restricted Pod Security settings as the runtime: non-root, read-only root
    filesystem (``/tmp`` is an emptyDir), no capabilities, no privilege escalation.
    """

    image: str = Field(
        min_length=1, max_length=IMAGE_MAX_LENGTH, pattern=IMAGE_PATTERN, description="Image of the MCP server."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="Image pull policy."
    )
    command: list[str] | None = Field(default=None, description="Entrypoint; the image's when omitted.")
    args: list[str] | None = Field(default=None, description="Arguments; the image's when omitted.")
    port: int = Field(
        default=8080, ge=1024, le=65535, description="Port the server listens on for streamable HTTP, on localhost."
    )
    path: str = Field(default="/mcp", pattern=r"^/", max_length=256, description="Path of the MCP endpoint.")
    env: list[McpSidecarEnvSpec] = Field(
        default_factory=list, max_length=64, description="Environment variables of the sidecar (values or Secret keys)."
    )
    resources: Resources = Field(default_factory=Resources, description="Container resources.")


class McpServerSpec(McpServerFields):
    """An MCP tool server: a URL (an in-cluster Service or outside), a stdio command in the runtime
    image, or a sidecar container of the runtime pod."""

    headers: list[McpHeaderSpec] = Field(
        default_factory=list, max_length=32, description="HTTP headers of a `streamable-http` server."
    )
    env: list[McpEnvSpec] = Field(
        default_factory=list, max_length=64, description="Environment variables of a `stdio` server's process."
    )

    sidecar: McpSidecar | None = Field(
        default=None,
        description="Run the server as a container of the runtime pod; its URL is then `http://127.0.0.1:<port><path>` (leave `url` out).",
    )

    def url_required(self) -> bool:
        return self.sidecar is None

    @property
    def server_url(self) -> str | None:
        """The URL the runtime calls: the declared one, or the sidecar's on localhost."""
        if self.sidecar is not None:
            return f"http://127.0.0.1:{self.sidecar.port}{self.sidecar.path}"
        return self.url

    @model_validator(mode="after")
    def _transport_settings(self) -> McpServerSpec:
        if self.headers and self.transport != "streamable-http":
            _reject(self, "headers", "headers are for streamable-http servers")
        if self.env and self.transport != "stdio":
            _reject(self, "env", "env is for stdio servers")
        if self.sidecar is not None:
            if self.transport != "streamable-http":
                _reject(self, "sidecar", "a sidecar server speaks streamable-http: remove transport: stdio")
            if self.url is not None:
                _reject(self, "url", "a sidecar server is reached on localhost: remove url")
            if len(self.id) > MAX_SIDECAR_ID:
                _reject(
                    self,
                    "id",
                    f"a sidecar server's id is at most {MAX_SIDECAR_ID} characters (its container is mcp-<id>)",
                )
        return self


class EmbedderSpec(EmbedderFields):
    """An embedding model endpoint; its API key is read from a Secret."""

    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the API key. Omit only for endpoints that need no key (a local text-embeddings server).",
    )


class ConfigMapFiles(Schema):
    """Files of a ConfigMap in the resource's namespace, mounted read-only into the runtime pods."""

    name: str = Field(pattern=NAME_PATTERN, max_length=253, description="ConfigMap name.")
    items: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Keys to load, each a file of its name (`data` or `binaryData`, e.g. a PDF); every key when omitted.",
        json_schema_extra={
            "items": {"type": "string", "pattern": SECRET_KEY_PATTERN, "maxLength": 253},
            "x-kubernetes-list-type": "set",
        },
    )

    @model_validator(mode="after")
    def _keys(self) -> ConfigMapFiles:
        for index, key in enumerate(self.items or []):
            if not _CONFIG_MAP_KEY.fullmatch(key) or key in (".", ".."):
                _reject(self, ("items", index), "not a valid ConfigMap key: letters, digits, '-', '_' and '.'")
        if self.items is not None and len(set(self.items)) != len(self.items):
            _reject(self, "items", "a key is listed twice: list each once")
        return self


class VolumeFiles(Schema):
    """Files on a PersistentVolumeClaim in the resource's namespace, mounted read-only into the runtime pods."""

    claim_name: str = Field(pattern=NAME_PATTERN, max_length=253, description="PersistentVolumeClaim name.")
    sub_path: str | None = Field(
        default=None,
        pattern=r"^[^/]",
        max_length=1024,
        description="Directory (or file) inside the volume to load, relative to its root; the whole volume when omitted.",
    )

    @model_validator(mode="after")
    def _inside(self) -> VolumeFiles:
        if self.sub_path is not None and ".." in self.sub_path.split("/"):
            _reject(self, "subPath", "must stay inside the volume: no '..' segment")
        return self


class KnowledgeSourceSpec(KnowledgeSourceFields):
    """Content loaded at start: the files of a ConfigMap or of a volume, or a URL."""

    config_map: ConfigMapFiles | None = Field(
        default=None,
        description="ConfigMap whose keys are loaded as files (mounted read-only into the runtime pods).",
    )
    persistent_volume_claim: VolumeFiles | None = Field(
        default=None,
        description="PersistentVolumeClaim whose files are loaded (mounted read-only into the runtime pods: with several replicas, a claim the pods can share, e.g. ReadOnlyMany).",
    )
    url: str | None = source_url_field(hosts_field="allowedHosts")

    @model_validator(mode="after")
    def _one_location(self) -> KnowledgeSourceSpec:
        given = [self.config_map, self.persistent_volume_claim, self.url]
        if sum(location is not None for location in given) != 1:
            _reject(
                self, "configMap", "set exactly one of configMap, persistentVolumeClaim, url"
            )  # mirrored in crd.RULES
        return self


class KnowledgeBaseSpec(KnowledgeBaseFields):
    """A knowledge base: documents chunked, embedded and searched by the agents that name it."""

    embedder: EmbedderSpec = Field(default_factory=EmbedderSpec, description="Embedding model endpoint.")
    sources: list[KnowledgeSourceSpec] = Field(
        default_factory=list, max_length=64, description="Contents loaded at start (again when they changed)."
    )

    @model_validator(mode="after")
    def _source_hosts_allowed(self) -> KnowledgeBaseSpec:
        """A source URL is fetched as URL content is: only from the hosts in ``allowedHosts`` (the runtime's rule)."""
        refused = find_refused_source(
            [source.url for source in self.sources], self.allowed_hosts, hosts_field="allowedHosts"
        )
        if refused is not None:
            _reject(self, ("sources", refused.index, "url"), refused.problem)
        return self


class AgentOSConfigSpec(RuntimeConfigFields):
    """Desired state of an AgentOS server: its runtime config and how to deploy it."""

    models: list[ModelSpec] = Field(default_factory=list, max_length=64, description="Chat models.")
    databases: list[DatabaseSpec] = Field(
        default_factory=list,
        max_length=32,
        description="Databases; none means one embedded SQLite file on a PersistentVolumeClaim.",
    )
    mcp_servers: list[McpServerSpec] = Field(
        default_factory=list,
        max_length=32,
        description="MCP tool servers; an agent or team lists `mcp:<id>` in its `tools` to use one's tools.",
    )
    knowledge_bases: list[KnowledgeBaseSpec] = Field(
        default_factory=list,
        max_length=32,
        description="Knowledge bases: documents agents search; an agent or team names one in `knowledge`.",
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=IMAGE_MAX_LENGTH,
        pattern=IMAGE_PATTERN,
        description="Runtime image; defaults to the operator's configured image.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="Image pull policy."
    )
    replicas: int | None = Field(
        default=None, ge=0, le=1000, description="Number of pods (default 1); omit when autoscaling is enabled."
    )
    autoscaling: Autoscaling | None = Field(default=None, description="Horizontal pod autoscaling.")
    resources: Resources = Field(default_factory=Resources, description="Container resources.")
    env: list[EnvVar] | None = Field(
        default=None,
        max_length=128,
        description=(
            "Extra environment variables of the runtime. Not those the operator sets (the metrics port, the "
            "SQLite directory, a mounted JWKS file, and every variable read from the Secrets the spec "
            "references: set their own fields), and no literal value for a name that says it holds a "
            "credential (`*_TOKEN`, `*_API_KEY`, `*_PASSWORD`, `*_SECRET`): use `valueFrom.secretKeyRef`."
        ),
    )
    env_from: list[dict[str, Any]] | None = Field(
        default=None,
        description="Extra environment sources (EnvFromSource entries).",
        json_schema_extra=OBJECT_ITEMS,
    )
    service: ServiceSpec = Field(default_factory=ServiceSpec, description="The Service in front of the runtime.")
    persistence: Persistence = Field(default_factory=Persistence, description="Volume for embedded SQLite databases.")
    network_policy: NetworkPolicySpec | None = Field(default=None, description="Optional NetworkPolicy.")
    ingress: IngressSpec | None = Field(
        default=None, description="Optional Ingress exposing the runtime outside the cluster at a host name."
    )
    security_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the AgentOS security key (`OS_SECURITY_KEY`); when omitted the operator generates one once and keeps it.",
    )
    jwt_verification_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the JWT verification key (a PEM public key, or the shared secret for HS256), exported as `JWT_VERIFICATION_KEY`; turns on JWT access control. One key: changing it restarts the pods. Either this or `jwtJwksSecretRef` (mutually exclusive) satisfies `authorization`.",
    )
    jwt_jwks_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description=(
            'Secret key holding a JWKS document (`{"keys": [...]}`) whose keys verify JWTs by `kid`; turns on JWT '
            "access control. Mounted read-only into the pods (only that key) as the file `JWT_JWKS_FILE`, never "
            "copied by the operator: an update of the Secret reaches running pods without a restart (the kubelet "
            "refreshes the file within a minute or two; the runtime reads it again when a token names a new kid, "
            "and every minute), so the identity provider's keys can rotate. Either this or "
            "`jwtVerificationKeySecretRef` (mutually exclusive) satisfies `authorization`."
        ),
    )
    prometheus: RuntimeMetrics = Field(
        default_factory=RuntimeMetrics,
        description="Prometheus metrics of the runtime (`spec.metrics` is Agno's metrics page of the UI).",
    )
    authorization: AuthorizationSettings | None = Field(
        default=None,
        description=(
            "JWT access control: audience, admin scope, user isolation. The key that verifies tokens comes "
            "from `jwtVerificationKeySecretRef` or `jwtJwksSecretRef`, one of which is then required."
        ),
    )
    paused: bool = Field(
        default=False,
        description=(
            "Stop reconciling: children are left as they are until unpaused. Ready (reason Paused) follows "
            "the pods while the children are as the spec says; an edit made while paused, or a child changed "
            "by hand, is not applied: Ready is False and Stalled True, naming what differs, until unpaused."
        ),
    )
    node_selector: dict[str, str] | None = Field(default=None, description="Node labels the pods must match.")
    tolerations: list[dict[str, Any]] | None = Field(
        default=None, description="Pod tolerations.", json_schema_extra=OBJECT_ITEMS
    )
    affinity: dict[str, Any] | None = Field(default=None, description="Pod affinity rules.", json_schema_extra=PRESERVE)
    pod_annotations: dict[str, str] | None = Field(default=None, description="Extra annotations on the pods.")
    pod_labels: dict[str, str] | None = Field(
        default=None,
        description=(
            "Extra labels on the pods (for network policies, a service mesh, cost reports); the operator's own "
            "`app.kubernetes.io/*` labels, which select the pods, cannot be set."
        ),
    )
    image_pull_secrets: list[LocalSecretRef] | None = Field(
        default=None,
        max_length=16,
        description=(
            "Secrets of type `kubernetes.io/dockerconfigjson` the kubelet pulls the pods' images with (the "
            "runtime's and the MCP sidecars'), from a private registry."
        ),
    )
    priority_class_name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        max_length=253,
        description="PriorityClass of the pods; the cluster's default when omitted.",
    )
    topology_spread_constraints: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=16,
        description=(
            "How the pods spread over zones or nodes (Kubernetes' `topologySpreadConstraints`); a "
            "`labelSelector` of `app.kubernetes.io/instance: <name>` selects this resource's pods."
        ),
        json_schema_extra=OBJECT_ITEMS,
    )
    termination_grace_period_seconds: int | None = Field(
        default=None,
        ge=20,
        le=86400,
        description=(
            "Seconds a stopping pod has (default 30). It stops taking requests after 5 s, while the Service "
            "forgets it; runs in flight then have this minus 17 s to finish before they are cancelled and "
            "recorded (`AGENTOS_RUN_GRACE_SECONDS`). Raise it when runs take minutes."
        ),
    )
    progress_deadline_seconds: int | None = Field(
        default=None,
        ge=30,
        le=86400,
        description=(
            "Seconds a rollout may go without progress before the Deployment says it has stalled and the "
            "status says `Stalled=True` (Kubernetes' default, 600, when omitted; a value another manager "
            "sets on the Deployment is then kept). Raise it when a large image or a slow start takes longer; "
            "lower it to hear sooner of a rollout that is stuck."
        ),
    )
    service_account_name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="ServiceAccount of the pods; the namespace default when omitted.",
    )

    @model_validator(mode="after")
    def _mcp_sidecar_ports(self, info: ValidationInfo) -> AgentOSConfigSpec:
        if not spec_rules_on(info):
            return self
        taken = {RUNTIME_PORT: "the runtime's port"}
        if self.prometheus.enabled:
            taken[self.prometheus.port] = "the metrics port"
        for index, server in enumerate(self.mcp_servers):
            if server.sidecar is None:
                continue
            port = server.sidecar.port
            if port in taken:
                _reject(
                    self,
                    ("mcpServers", index, "sidecar", "port"),
                    f"port {port} is already {taken[port]}: pick another",
                )
            taken[port] = f"the port of the {server.id} sidecar"
        return self

    @model_validator(mode="after")
    def _env_rules(self, info: ValidationInfo) -> AgentOSConfigSpec:
        if not spec_rules_on(info):
            return self
        reserved = [
            *OPERATOR_ENV,
            *([_DATA_DIR_ENV] if self.uses_sqlite else []),
            *([_JWKS_FILE_ENV] if self.jwt_jwks_secret_ref is not None else []),
        ]
        # Every variable judged at once: a problem set aside for the next pass (its ``name``)
        # leaves an item without a name, which hides the rest of the list.
        refused: list[tuple[tuple[str | int, ...], str]] = []
        for index, variable in enumerate(self.env or []):
            fixes = [fix for pattern, fix in reserved if pattern.fullmatch(variable.name)]
            if fixes:  # the variable is to go: its value is moot
                refused.append((("env", index, "name"), f"'{variable.name[:100]}' is set by the operator: {fixes[0]}"))
            elif variable.value and SECRET_LOOKING_ENV.search(variable.name):
                refused.append(
                    (
                        ("env", index, "value"),
                        f"'{variable.name[:100]}' names a credential, and a literal value is stored in clear text "
                        "with the resource (etcd, Git): put it in a Secret and reference it with valueFrom.secretKeyRef",
                    )
                )
        if refused:
            _reject_all(self, refused)
        return self

    @model_validator(mode="after")
    def _deployment_rules(self, info: ValidationInfo) -> AgentOSConfigSpec:
        if not spec_rules_on(info):
            return self
        autoscaling = self.autoscaling is not None and self.autoscaling.enabled
        if autoscaling and self.replicas is not None:
            _reject(
                self,
                "replicas",
                "replicas and autoscaling.enabled are mutually exclusive: remove replicas when autoscaling",
            )
        elif self.uses_sqlite and autoscaling:
            _reject(
                self,
                ("autoscaling", "enabled"),
                "an embedded SQLite database allows one replica only: use postgres or redis to autoscale",
            )
        elif self.uses_sqlite and (self.replicas or 0) > 1:
            _reject(
                self,
                "replicas",
                f"an embedded SQLite database allows one replica only, not {self.replicas}: use postgres or redis to scale out",
            )
        self._jwt_key_rules()
        for key in self.pod_labels or {}:
            if key in OPERATOR_POD_LABELS:
                _reject(
                    self,
                    ("podLabels", key),
                    f"'{key}' is a label the operator sets on the pods and selects them by: choose another key",
                )
        return self

    def _jwt_key_rules(self) -> None:
        """One source of JWT keys: a single key, or a JWKS that may rotate; ``authorization`` needs one."""
        single, jwks = self.jwt_verification_key_secret_ref, self.jwt_jwks_secret_ref
        if single is not None and jwks is not None:
            _reject(
                self,
                "jwtJwksSecretRef",
                "jwtJwksSecretRef and jwtVerificationKeySecretRef are mutually exclusive: keep jwtJwksSecretRef"
                " (keys by kid, rotated without a restart; put the single key in its JWKS) or"
                " jwtVerificationKeySecretRef, and remove the other",
            )
        if self.authorization is not None and single is None and jwks is None:
            _reject(
                self,
                "jwtVerificationKeySecretRef",
                "authorization turns on JWT access control, which needs a verification key:"
                " set jwtVerificationKeySecretRef to a Secret key holding it, or jwtJwksSecretRef to one holding"
                " a JWKS document",
            )

    @property
    def uses_sqlite(self) -> bool:
        """Whether any data lives in an embedded SQLite file (declared, or the default when none is)."""
        return not self.databases or any(d.type == "sqlite" for d in self.databases)


SPEC_RULES = "spec_rules"
"""Validation context key: ``{SPEC_RULES: False}`` skips the spec's own rules across its fields
(ports, replicas, JWT keys, pod labels), to check what follows them despite a broken one."""


def spec_rules_on(info: ValidationInfo) -> bool:
    """Whether the spec's rules across fields apply in this validation (``SPEC_RULES``)."""
    return not isinstance(info.context, dict) or info.context.get(SPEC_RULES, True) is not False


def _reject(model: Schema, field: str | tuple[str | int, ...], message: str) -> NoReturn:
    """Fail a cross-field rule at the field a user must change (pydantic's locs, by alias)."""
    _reject_all(model, [((field,) if isinstance(field, str) else field, message)])


def _reject_all(model: Schema, refused: list[tuple[tuple[str | int, ...], str]]) -> NoReturn:
    """Fail a rule at each field of ``refused`` (loc, message) at once."""
    raise ValidationError.from_exception_data(
        type(model).__name__,
        [
            InitErrorDetails(type=PydanticCustomError("spec_rule", message), loc=loc, input=model)
            for loc, message in refused
        ],
    )


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(Schema):
    """A standard Kubernetes condition."""

    type: str = Field(
        description="Condition type: Ready, Progressing, Degraded, ReferencesResolved, Reconciling or Stalled."
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="Machine-readable reason in CamelCase.")
    message: str = Field(default="", description="Human-readable details.")
    last_transition_time: str = Field(description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(default=None, description="Generation the condition was computed from.")


class AgentOSConfigStatus(Schema):
    """Observed state, written by the operator."""

    observed_generation: int | None = Field(default=None, description="Generation last reconciled.")
    conditions: list[Condition] = Field(default_factory=list, description="Current conditions.")
    replicas: int | None = Field(default=None, description="Pods of the runtime Deployment.")
    ready_replicas: int | None = Field(default=None, description="Ready pods of the runtime Deployment.")
    selector: str | None = Field(default=None, description="Label selector of the pods (for the scale subresource).")
    url: str | None = Field(default=None, description="In-cluster URL of the AgentOS API.")
    ingress_url: str | None = Field(
        default=None, description="URL of the AgentOS API through the Ingress (`spec.ingress`), when it is enabled."
    )
    config_hash: str | None = Field(
        default=None, description="Hash of the rendered config and secrets the pods run with."
    )
    operator: str | None = Field(
        default=None,
        description=(
            "The operator instance serving this resource (`<namespace>/<lease name>` of its release), claimed by "
            "its first status write: another instance watching the namespace leaves the resource alone and says so "
            "in a ManagedElsewhere Warning, unless that instance is gone (its Lease deleted, released or long "
            "unrenewed) or no longer watches the namespace: then it takes the resource over (a TakenOver event). Remove it (`kubectl patch "
            "--subresource=status`) to hand the resource over to another instance."
        ),
    )
