"""The runtime container's secret environment: which variable each Secret key becomes.

Models, databases and embedders name Secret keys in the resource; the runtime file names
environment variables instead. This module decides the mapping once (the guide's names first:
``OPENAI_API_KEY``, ``DATABASE_URL``, ``REDIS_URL``), so the ConfigMap, the ``<name>-env``
Secret and the list of Secrets to read all agree. A Secret key named by several models and
embedders becomes one variable.

The runtime container loads the whole ``<name>-env`` Secret, so only what the runtime reads goes
in it. An MCP sidecar's Secret values stay out: the sidecar's container names each Secret key it
reads (``sidecar_env``), so the runtime never sees the sidecar's secrets, nor the sidecar the
runtime's. Those keys are still read by the operator: a missing one stops the reconcile as any
other does, and the config hash covers their values, so rotating one rolls the pods.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agentos_runtime.settings import PLACEHOLDER_PREFIX

from agentos_operator.referrers import Referrer
from agentos_operator.render import layout
from agentos_operator.resources import AgentOSResource
from agentos_operator.spec import McpEnvSpec, McpHeaderSpec

SecretRef = tuple[str, str]

# CloudNativePG's application Secret (`<cluster>-app`) holds the connection URI under this key.
CNPG_URI_KEY = "uri"
MODEL_KEY_ENV = "OPENAI_API_KEY"
# An embedder's key, when no model reads the same Secret key: KNOWLEDGE_<BASE ID>_API_KEY.
KNOWLEDGE_KEY_ENV = "KNOWLEDGE_{}_API_KEY"
# Where the runtime (as Agno) reads the key that verifies JWTs.
JWT_KEY_ENV = "JWT_VERIFICATION_KEY"
DATABASE_URL_ENV = {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}


@dataclass(frozen=True)
class EnvSource:
    """One variable of the ``<name>-env`` Secret: where its value comes from."""

    ref: SecretRef
    # PostgreSQL URLs get the driver the runtime uses (`postgresql+psycopg://`).
    postgres_url: bool = False


@dataclass(frozen=True)
class Environment:
    """The variable of each model and database, and the source of every variable."""

    model_env: dict[str, str | None]
    database_env: dict[str, str]
    sources: dict[str, EnvSource]
    mcp_env: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """The variable of each MCP header or env value read from a Secret, by (server, kind, name)."""
    knowledge_env: dict[str, str | None] = field(default_factory=dict)
    """The variable holding each knowledge base's embedder key, by base id; None when it takes none."""
    sidecar_env: dict[tuple[str, str], SecretRef] = field(default_factory=dict)
    """The Secret key of each MCP sidecar variable read from a Secret, by (server, variable name)."""
    referrers: tuple[tuple[SecretRef, Referrer], ...] = ()
    """Each (Secret, key) with a field naming it, in spec order: what a problem with it is said with."""


def plan_environment(resource: AgentOSResource) -> Environment:
    """Name a variable for each distinct model key and each postgres/redis database."""
    spec = resource.spec
    sources: dict[str, EnvSource] = {}
    model_env: dict[str, str | None] = {}
    env_of_ref: dict[SecretRef, str] = {}
    referrers: list[tuple[SecretRef, Referrer]] = []

    def named(ref: SecretRef, referrer: Referrer) -> SecretRef:
        referrers.append((ref, referrer))
        return ref

    for index, model in enumerate(spec.models):
        if model.api_key_secret_ref is None:
            model_env[model.id] = None
            continue
        ref = named(
            (model.api_key_secret_ref.name, model.api_key_secret_ref.key),
            Referrer(f"spec.models[{index}].apiKeySecretRef", needs_value=True),
        )
        if ref not in env_of_ref:
            env_of_ref[ref] = (
                MODEL_KEY_ENV if not env_of_ref else _unused(sources, f"{MODEL_KEY_ENV}_{_env_suffix(model.id)}")
            )
            sources[env_of_ref[ref]] = EnvSource(ref)
        model_env[model.id] = env_of_ref[ref]
    knowledge_env: dict[str, str | None] = {}
    for index, knowledge_base in enumerate(spec.knowledge_bases):
        key_ref = knowledge_base.embedder.api_key_secret_ref
        if key_ref is None:
            knowledge_env[knowledge_base.id] = None
            continue
        ref = named(
            (key_ref.name, key_ref.key),
            Referrer(f"spec.knowledgeBases[{index}].embedder.apiKeySecretRef", needs_value=True),
        )
        if ref not in env_of_ref:
            env_of_ref[ref] = _unused(sources, KNOWLEDGE_KEY_ENV.format(_env_suffix(knowledge_base.id)))
            sources[env_of_ref[ref]] = EnvSource(ref)
        knowledge_env[knowledge_base.id] = env_of_ref[ref]
    database_env: dict[str, str] = {}
    for index, database in enumerate(spec.databases):
        if database.type == "sqlite":
            continue
        base = DATABASE_URL_ENV[database.type]
        env = base if base not in sources else _unused(sources, f"{base}_{_env_suffix(database.id)}")
        if database.cnpg_cluster_ref is not None:
            cluster = database.cnpg_cluster_ref.name
            field_path = f"spec.databases[{index}].cnpgClusterRef"
            ref = named(cnpg_app_secret_ref(cluster), Referrer(field_path, cnpg_cluster=cluster, needs_value=True))
        else:
            assert database.url_secret_ref is not None  # the spec's validator guarantees it
            ref = named(
                (database.url_secret_ref.name, database.url_secret_ref.key),
                Referrer(f"spec.databases[{index}].urlSecretRef", needs_value=True),
            )
        sources[env] = EnvSource(ref, postgres_url=database.type == "postgres")
        database_env[database.id] = env
    sources[layout.SECURITY_KEY_ENV] = EnvSource(security_key_ref(resource))
    if spec.security_key_secret_ref is not None:  # the generated one is named by no field
        named(security_key_ref(resource), Referrer("spec.securityKeySecretRef"))
    if spec.jwt_verification_key_secret_ref is not None:
        jwt_ref = spec.jwt_verification_key_secret_ref
        sources[JWT_KEY_ENV] = EnvSource(
            named((jwt_ref.name, jwt_ref.key), Referrer("spec.jwtVerificationKeySecretRef"))
        )
    mcp_env: dict[tuple[str, str, str], str] = {}
    sidecar_env: dict[tuple[str, str], SecretRef] = {}
    for server_index, server in enumerate(spec.mcp_servers):
        named_items: list[tuple[str, Sequence[McpHeaderSpec | McpEnvSpec]]] = [
            ("headers", server.headers),
            ("env", server.env),
        ]
        for kind, items in named_items:
            for index, item in enumerate(items):
                if item.value_secret_ref is None:
                    continue
                env = _unused(sources, f"MCP_{_env_suffix(server.id)}_{_env_suffix(item.name)}")
                sources[env] = EnvSource(
                    named(
                        (item.value_secret_ref.name, item.value_secret_ref.key),
                        # The runtime refuses to start with an empty one (it would send an empty credential).
                        Referrer(f"spec.mcpServers[{server_index}].{kind}[{index}].valueSecretRef", needs_value=True),
                    )
                )
                mcp_env[(server.id, kind, item.name)] = env
        for index, item in enumerate(server.sidecar.env if server.sidecar is not None else []):
            if item.value_secret_ref is not None:
                sidecar_env[(server.id, item.name)] = named(
                    (item.value_secret_ref.name, item.value_secret_ref.key),
                    Referrer(f"spec.mcpServers[{server_index}].sidecar.env[{index}].valueSecretRef"),
                )
    return Environment(
        model_env=model_env,
        database_env=database_env,
        sources=sources,
        mcp_env=mcp_env,
        knowledge_env=knowledge_env,
        sidecar_env=sidecar_env,
        referrers=tuple(referrers),
    )


def cnpg_app_secret_ref(cluster: str) -> SecretRef:
    """The (Secret, key) of a CloudNativePG Cluster's connection URI: its ``<cluster>-app`` Secret."""
    return (f"{cluster}-app", CNPG_URI_KEY)


def security_key_ref(resource: AgentOSResource) -> SecretRef:
    """The spec's ``securityKeySecretRef``, or the Secret the operator generates once when absent."""
    ref = resource.spec.security_key_secret_ref
    if ref is not None:
        return (ref.name, ref.key)
    return (layout.generated_security_key_name(resource.name), "security-key")


def required_secret_refs(resource: AgentOSResource) -> list[SecretRef]:
    """Every (Secret, key) render reads, sorted and unique."""
    return sorted(environment_refs(plan_environment(resource)))


def environment_refs(environment: Environment) -> set[SecretRef]:
    """The (Secret, key) of every variable: the ``<name>-env`` Secret's and the sidecars' own."""
    return {source.ref for source in environment.sources.values()} | set(environment.sidecar_env.values())


def placeholder_secrets(resource: AgentOSResource) -> dict[SecretRef, str]:
    """Stand-in values for offline rendering, marked so nobody mistakes them for real ones."""
    return {(name, key): f"{PLACEHOLDER_PREFIX}{name}/{key}>" for name, key in required_secret_refs(resource)}


def _unused(sources: Mapping[str, EnvSource], name: str) -> str:
    """``name``, or ``name_2``, ``name_3``, ... when a variable of that name is planned already.

    Upper-casing and replacing what a variable name cannot hold is not one-to-one (server ``a``
    with header ``b-c`` and server ``a-b`` with header ``c`` are both ``MCP_A_B_C``): two values
    must never share a variable, or one server is sent the other's credential.
    """
    candidate, number = name, 1
    while candidate in sources:
        number += 1
        candidate = f"{name}_{number}"
    return candidate


def _env_suffix(component_id: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", component_id.upper())
