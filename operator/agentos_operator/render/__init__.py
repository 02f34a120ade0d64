"""Render: a checked ``AgentOSConfig`` and its secret values in, the child manifests out.

Pure (no kopf, no Kubernetes client, no I/O): the reconciler and ``agentos render`` call the
same functions. The public surface:

- ``render(resource, secrets, *, settings)``: the manifests, sorted, deterministic;
- ``required_secret_refs(resource)``: every (Secret, key) the caller must read first;
- ``mounted_secret_refs(resource)``: every (Secret, key) the pods mount as a file (the JWKS),
  which must exist but whose value render never takes;
- ``required_config_maps(resource)``: every ConfigMap knowledge sources mount (and keys they
  list), whose ``content_digest`` the caller passes to ``render``;
- ``secret_referrers(resource)``, ``config_map_referrers(resource)``: the fields naming each of
  those references, for what is said when one cannot be resolved;
- ``security_key_ref(resource)``: where the AgentOS security key lives (maybe generated);
- ``config_hash(manifests)``: the digest rolling the pods when config or secrets change;
- ``placeholder_secrets(resource)``: marked stand-ins for offline rendering;
- ``dump_manifests(manifests)``: the YAML text of a rendering;
- ``check_manifests(resource, manifests)``: what the API server would refuse of them (offline);
- ``not_served_message(kind, otherwise)``: what to do when the cluster does not serve a child's kind.
- ``claim_change_problems(resource, live)``: what the spec changed of an existing data claim
  that cannot change.
"""

from agentos_operator.errors import MissingSecretsError
from agentos_operator.render.checks import check_manifests, claim_change_problems, claim_class_problems
from agentos_operator.render.documents import dump_manifests
from agentos_operator.render.environment import (
    SecretRef,
    placeholder_secrets,
    required_secret_refs,
    security_key_ref,
)
from agentos_operator.render.hashing import config_hash, content_digest
from agentos_operator.render.jwks import mounted_secret_refs
from agentos_operator.render.knowledge import ConfigMapReferrers, config_map_referrers, required_config_maps
from agentos_operator.render.layout import (
    CONFIG_HASH_ANNOTATION,
    config_map_name,
    data_claim_name,
    env_secret_name,
    generated_security_key_name,
    label_selector,
    labels,
    selector_labels,
)
from agentos_operator.render.references import secret_referrers
from agentos_operator.render.rendering import (
    DEFAULT_RUNTIME_IMAGE,
    KIND_ORDER,
    RenderSettings,
    SecretValues,
    not_served_message,
    render,
)
from agentos_operator.render.service import unadmitted_ingress

__all__ = [
    "CONFIG_HASH_ANNOTATION",
    "ConfigMapReferrers",
    "DEFAULT_RUNTIME_IMAGE",
    "KIND_ORDER",
    "MissingSecretsError",
    "RenderSettings",
    "SecretRef",
    "SecretValues",
    "check_manifests",
    "claim_change_problems",
    "claim_class_problems",
    "config_hash",
    "config_map_referrers",
    "config_map_name",
    "content_digest",
    "data_claim_name",
    "dump_manifests",
    "env_secret_name",
    "generated_security_key_name",
    "label_selector",
    "labels",
    "mounted_secret_refs",
    "not_served_message",
    "placeholder_secrets",
    "render",
    "required_config_maps",
    "required_secret_refs",
    "secret_referrers",
    "security_key_ref",
    "selector_labels",
    "unadmitted_ingress",
]
