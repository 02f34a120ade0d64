"""The API client turns every way a request can fail into a typed, transient ``ApiError``.

Through the emulator: each fault here is one a real API server cannot be made to produce on
demand (a connection closed before or after the request took effect, a request never
answered, a body that is not JSON, a restart on the same port, a 429 at a chosen request).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

import aiohttp
import kopf
import pytest
from agentos_operator.kube.client import (
    UNAVAILABLE,
    ApiClient,
    ApiConflictError,
    ApiError,
    ApiUnavailableError,
    cut_between,
    retry_after_seconds,
    status_error,
    unavailable_cause,
)
from agentos_operator.kube.kinds import CONFIG_MAP

from tests.operator.kopf.conftest import CONFIGMAPS, Cluster

NAMESPACE = "ns1"


def config_map(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE}, "data": data}


@pytest.fixture
def failures() -> list[tuple[str, int]]:
    """What the client reported to its error hook (the operator's metrics), in order."""
    return []


def client_of(cluster: Cluster, failures: list[tuple[str, int]], *, timeout: float) -> ApiClient:
    server = str(cluster.api.url).rstrip("/")
    return ApiClient(
        lambda: kopf.ConnectionInfo(server=server, insecure=True),
        timeout=timeout,
        on_error=lambda verb, status: failures.append((verb, status)),
    )


@pytest.fixture
async def api(cluster: Cluster, failures: list[tuple[str, int]]) -> AsyncIterator[ApiClient]:
    # A budget no pause of a loaded machine runs out: the emulator answers in the test's own event
    # loop, and a request timed out would be a timeout where the test expects the fault it injected.
    client = client_of(cluster, failures, timeout=30)
    yield client
    await client.close()


async def unavailable(request: Awaitable[object]) -> ApiUnavailableError:
    """The ``ApiUnavailableError`` awaiting ``request`` raises (and fails the test if it raises none)."""
    with pytest.raises(ApiUnavailableError) as raised:
        await request
    assert raised.value.transient
    assert raised.value.status == UNAVAILABLE
    return raised.value


async def test_a_connection_closed_before_the_answer_is_a_transient_error_and_the_next_request_works(
    cluster: Cluster, api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    """Injected: the connection closed unanswered, twice in a row, before the read took effect."""
    await api.create(config_map("before"), field_manager="test")  # a pooled connection to reuse
    # Twice: aiohttp itself sends a GET again once when a kept-alive connection closes unanswered.
    cluster.api.disconnect_next(verb="get", plural="configmaps", times=2)

    error = await unavailable(api.get(CONFIG_MAP, NAMESPACE, "before"))

    assert error.reason == "Disconnected"
    assert failures == [("get", UNAVAILABLE)]
    assert (await api.get(CONFIG_MAP, NAMESPACE, "before") or {})["metadata"]["name"] == "before"


async def test_a_create_whose_answer_was_lost_did_take_effect_and_its_retry_conflicts(
    cluster: Cluster, api: ApiClient
) -> None:
    """Injected: the connection closed unanswered after the create took effect."""
    cluster.api.disconnect_next(verb="create", plural="configmaps", after_write=True)

    await unavailable(api.create(config_map("lost", key="value"), field_manager="test"))

    assert cluster.get(CONFIGMAPS, "lost") is not None  # what the client cannot know
    with pytest.raises(ApiConflictError):  # what its callers already treat as done
        await api.create(config_map("lost", key="value"), field_manager="test")


async def test_a_request_never_answered_times_out_as_a_transient_error(
    cluster: Cluster, failures: list[tuple[str, int]]
) -> None:
    """Injected: a request the server never answers, on a client that waits 2 s for each answer."""
    hasty = client_of(cluster, failures, timeout=2)
    cluster.api.stall_next(verb="list", plural="configmaps")
    try:
        error = await unavailable(hasty.list(CONFIG_MAP, NAMESPACE))

        assert error.reason == "Timeout"
        assert await hasty.list(CONFIG_MAP, NAMESPACE) == []
    finally:
        await hasty.close()


async def test_an_answer_that_is_not_json_is_a_transient_error_that_quotes_none_of_it(
    cluster: Cluster, api: ApiClient
) -> None:
    """Injected: a 200 answer whose body is an HTML page, as from a misconfigured proxy."""
    cluster.api.garble_next(verb="get", plural="configmaps")

    error = await unavailable(api.get(CONFIG_MAP, NAMESPACE, "anything"))

    assert error.reason == "UnreadableAnswer"
    assert "html" not in str(error).lower() and "Bad Gateway" not in str(error)


async def test_an_unreachable_server_is_a_transient_error_and_a_restarted_one_is_used_again(
    cluster: Cluster, api: ApiClient
) -> None:
    """Injected: the server down (connections refused, open ones dropped), then back on its port."""
    await api.create(config_map("kept"), field_manager="test")  # a pooled connection the restart breaks

    async with cluster.api.outage():
        error = await unavailable(api.list(CONFIG_MAP, NAMESPACE))
        assert error.reason == "ConnectionFailed"

    assert [o["metadata"]["name"] for o in await api.list(CONFIG_MAP, NAMESPACE)] == ["kept"]


async def test_a_restart_between_two_requests_on_a_kept_alive_connection_goes_unnoticed(
    cluster: Cluster, api: ApiClient, failures: list[tuple[str, int]]
) -> None:
    """Injected: a restart on the same port that breaks the client's kept-alive connection."""
    await api.create(config_map("kept"), field_manager="test")

    async with cluster.api.outage():
        pass
    patch = {"data": {"after": "restart"}}
    patched = await api.patch(CONFIG_MAP, NAMESPACE, "kept", patch, field_manager="test")  # not retried by aiohttp

    assert patched["data"] == {"after": "restart"}
    assert failures == []


async def test_throttling_carries_the_wait_the_server_asked_for(cluster: Cluster, api: ApiClient) -> None:
    """Injected: a 429 with Retry-After at a chosen request."""
    cluster.api.fail_next(429, verb="list", plural="configmaps", retry_after=3)

    with pytest.raises(ApiError) as raised:
        await api.list(CONFIG_MAP, NAMESPACE)

    assert (raised.value.status, raised.value.transient, raised.value.retry_after) == (429, True, 3.0)


def test_the_wait_asked_for_is_read_from_the_header_first_then_the_status_details() -> None:
    assert retry_after_seconds(429, "2", {"retryAfterSeconds": 5}) == 2.0
    assert retry_after_seconds(503, None, {"retryAfterSeconds": 5}) == 5.0
    assert retry_after_seconds(429, "Wed, 21 Oct 2015 07:28:00 GMT", None) is None
    assert retry_after_seconds(429, "-1", None) is None
    assert retry_after_seconds(429, None, None) is None


def test_a_wait_asked_for_outside_throttling_and_server_errors_is_ignored() -> None:
    assert retry_after_seconds(409, "2", None) is None
    assert retry_after_seconds(301, "2", None) is None


def test_each_cause_of_no_answer_is_named() -> None:
    assert unavailable_cause(TimeoutError())[0] == "Timeout"
    assert unavailable_cause(aiohttp.ServerTimeoutError())[0] == "Timeout"
    assert unavailable_cause(aiohttp.ServerDisconnectedError())[0] == "Disconnected"
    assert unavailable_cause(aiohttp.ClientOSError(104, "Connection reset by peer"))[0] == "Disconnected"
    assert unavailable_cause(aiohttp.ClientPayloadError("cut"))[0] == "IncompleteAnswer"
    assert unavailable_cause(ValueError("Expecting value"))[0] == "UnreadableAnswer"


def test_a_body_that_fails_to_decode_is_not_quoted() -> None:
    reason, message = unavailable_cause(UnicodeDecodeError("utf-8", b"sk-secret\xff", 9, 10, "invalid start byte"))

    assert reason == "UnreadableAnswer"
    assert "sk-secret" not in message and "xff" not in message


def test_an_apply_the_server_cannot_even_type_is_not_retried_though_answered_500() -> None:
    # A real API server answers server-side apply of a list keyed by name holding a name twice so.
    untypable = ApiError(
        verb="apply",
        path="/apis/apps/v1/namespaces/a/deployments/demo",
        status=500,
        reason="Internal Server Error",
        message='failed to create typed patch object (a/demo; apps/v1, Kind=Deployment): .spec.template.spec.containers[name="agentos"].env: duplicate entries for key [name="DUP"]',
    )
    trouble = ApiError(
        verb="apply", path="/x", status=500, reason="InternalError", message="etcdserver: leader changed"
    )

    assert not untypable.transient
    assert trouble.transient


def test_a_long_refusal_keeps_what_it_names_and_why_it_refuses_cut_in_its_middle() -> None:
    dump = "policy.PodDisruptionBudgetSpec{" + ", ".join(f"Field{n}:nil" for n in range(60)) + "}"
    said = f'PodDisruptionBudget.policy "demo" is invalid: spec: Invalid value: {dump}: ' + (
        "minAvailable and maxUnavailable cannot be both set"
    )
    error = status_error("apply", "/apis/policy/v1/x", 422, {"message": said, "reason": "Invalid"}, reason=None)

    assert len(said) > 300 and len(error.detail) <= 300
    assert error.detail.startswith('PodDisruptionBudget.policy "demo" is invalid')
    assert error.detail.endswith("minAvailable and maxUnavailable cannot be both set")
    assert " … " in error.detail
    assert cut_between("short enough", 300) == "short enough"
