"""The fields of the spec naming each referenced Secret key: what a problem with one is said with."""

from __future__ import annotations

from agentos_operator.referrers import Referrer
from agentos_operator.render.environment import SecretRef, plan_environment
from agentos_operator.render.jwks import jwks_ref
from agentos_operator.resources import AgentOSResource


def secret_referrers(resource: AgentOSResource) -> list[tuple[SecretRef, Referrer]]:
    """Every (Secret, key) the spec names, those the pods mount included, each with a field naming
    it, in spec order: the walk collecting ``required_secret_refs`` and ``mounted_secret_refs``."""
    named = list(plan_environment(resource).referrers)
    jwks = jwks_ref(resource)
    if jwks is not None:
        named.append((jwks, Referrer("spec.jwtJwksSecretRef")))
    return named
