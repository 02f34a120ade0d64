"""The ``authorization`` block: how JWT access control judges a verified token.

The keys that verify tokens are secrets and come from the environment (``JWT_VERIFICATION_KEY``
or ``JWT_JWKS_FILE``, as Agno reads them); this block holds the policy, with the names of
Agno's ``AuthorizationConfig``: which audience a token must carry, which scope makes a caller
an administrator, and whether each user only sees its own sessions and memories.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from agentos_runtime.config.base import Schema

# The algorithms a verification key may be used with. The token's own ``alg`` header is never
# trusted: a token signed with any other algorithm than the key's is refused.
JwtAlgorithm = Literal[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]

DEFAULT_ADMIN_SCOPE = "agent_os:admin"


class AuthorizationSettings(Schema):
    """JWT access control (Agno's ``AuthorizationConfig``); needs a key in the environment."""

    algorithm: JwtAlgorithm | None = Field(
        default=None,
        description="Signing algorithm of the tokens; defaults to the key's kind: RS256 for an RSA key, ES256 for an EC key, HS256 for a shared secret.",
    )
    audience: list[str] | None = Field(
        default=None,
        max_length=16,
        description="When set, a token's `aud` must name one of these.",
    )
    verify_audience: bool = Field(
        default=False,
        description="Check `aud` even without `audience`: it must then name this AgentOS's id.",
    )
    admin_scope: str = Field(
        default=DEFAULT_ADMIN_SCOPE,
        min_length=1,
        description="The scope that grants everything.",
    )
    user_isolation: bool = Field(
        default=False,
        description="A caller without the admin scope only sees and writes its own sessions and memories (its `user_id` is the token's `sub`).",
    )

    @field_validator("audience", mode="before")
    @classmethod
    def _one_audience_is_a_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value
