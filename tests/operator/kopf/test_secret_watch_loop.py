"""The metadata-only watch loop against the emulator: pages, resumes, re-lists, backoff, and its scope.

Each test runs one ``MetadataWatch`` (or ``watch_in_scope``) of Secrets with the real API
client, and looks at what it delivered and what it asked the emulator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import kopf
import pytest
from agentos_operator.kube.client import ApiClient, ApiError
from agentos_operator.kube.kinds import SECRET
from agentos_operator.kube.metadata_watch import (
    MetadataWatch,
    failure_delay,
    fixed_namespaces,
    namespace_matches,
    short_watch,
    watch_in_scope,
)
from kmock._internal import rendering

from tests.operator.kopf.conftest import CONFIGMAPS, SECRETS, Cluster, eventually
from tests.support.emulator import VERBS

LOGGER = logging.getLogger("tests.secret_watch")


@dataclass
class Delivered:
    """What a watch delivered: (event type, namespace, name, resourceVersion), and the bodies as given."""

    events: list[tuple[str | None, str, str, str]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    lists: list[tuple[str | None, int]] = field(default_factory=list)  # (namespace, events delivered before)

    def __call__(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        self.events.append((event_type, meta.get("namespace", ""), meta["name"], meta.get("resourceVersion", "")))
        self.bodies.append(body)

    def names(self, event_type: str | None) -> list[str]:
        return [name for kind, _, name, _ in self.events if kind == event_type]

    def listed(self, namespace: str | None) -> None:
        self.lists.append((namespace, len(self.events)))


@dataclass
class Delays:
    """A ``retry_delay`` that remembers each failure count it was asked about, and waits little."""

    asked: list[int] = field(default_factory=list)

    def __call__(self, failures: int) -> float:
        self.asked.append(failures)
        return 0.02


Run = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[ApiClient]:
    server = str(cluster.api.url).rstrip("/")
    # No test here waits for a timeout, and the counts of lists, watches and backoffs they check
    # would change if a pause of a loaded machine timed a request out: a budget none runs out.
    client = ApiClient(lambda: kopf.ConnectionInfo(server=server, insecure=True), timeout=30)
    yield client
    await client.close()


@pytest.fixture
async def run() -> AsyncIterator[Run]:
    """Run coroutines as tasks for the test; cancel them at its end."""
    tasks: list[asyncio.Task[None]] = []
    yield lambda coroutine: tasks.append(asyncio.create_task(coroutine))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def requests(cluster: Cluster, verb: str, plural: str = "secrets") -> list[rendering.Request]:
    """The requests of ``verb`` (list, watch...) about ``plural``, in order."""
    return [
        r
        for r in cluster.api.requests_since(0)
        if r.resource is not None and r.resource.plural == plural and r.action and VERBS.get(r.action.name) == verb
    ]


def secret_watch(api: ApiClient, delivered: Delivered, delays: Delays, *, page_size: int = 500) -> MetadataWatch:
    return MetadataWatch(
        api,
        SECRET,
        "ns1",
        delivered,
        retry_delay=delays,
        logger=LOGGER,
        page_size=page_size,
        on_listed=delivered.listed,
    )


async def secret(cluster: Cluster, name: str, namespace: str = "ns1", **metadata: Any) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, **metadata}, "data": {"k": "c2VjcmV0"}}
    return await cluster.api.create(SECRETS, body, namespace=namespace)


async def watching(cluster: Cluster, count: int = 1) -> rendering.Request:
    """The ``count``-th watch of Secrets, once it was asked for."""
    await eventually(lambda: len(requests(cluster, "watch")) >= count, what=f"watch #{count}")
    return requests(cluster, "watch")[count - 1]


async def streaming(cluster: Cluster, delivered: Delivered, name: str = "live") -> dict[str, Any]:
    """Create Secret ``name`` once the watch is asked for, and wait until it delivers it: its stream is serving."""
    await watching(cluster)
    body = await secret(cluster, name)
    await eventually(lambda: name in delivered.names("ADDED"), what=f"{name} watched")
    return body


async def test_a_list_comes_in_pages_and_delivers_each_object_once_as_a_listing(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    for index in range(5):
        await secret(cluster, f"s{index}")
    last = await secret(cluster, "elsewhere", "ns2")
    delivered = Delivered()

    run(secret_watch(api, delivered, Delays(), page_size=2).run())
    watch = await watching(cluster)

    assert sorted(delivered.names(None)) == ["s0", "s1", "s2", "s3", "s4"]
    assert len(delivered.events) == 5
    assert delivered.lists == [("ns1", 5)]  # said once, after the last page's objects
    pages = requests(cluster, "list")
    assert [(r.params["limit"], bool(r.params.get("continue"))) for r in pages] == [
        ("2", False),
        ("2", True),
        ("2", True),
    ]
    assert watch.params["resourceVersion"] == last["metadata"]["resourceVersion"]  # the list's version


async def test_each_object_arrives_cut_to_its_identifying_metadata(cluster: Cluster, api: ApiClient, run: Run) -> None:
    applied = '{"apiVersion":"v1","kind":"Secret","data":{"k":"c2VjcmV0"}}'  # what `kubectl apply` keeps
    owner = {"apiVersion": "agentos.dev/v1alpha1", "kind": "AgentOSConfig", "name": "demo", "uid": "u-1"}
    await secret(
        cluster,
        "applied",
        labels={"team": "a"},
        annotations={"kubectl.kubernetes.io/last-applied-configuration": applied},
        ownerReferences=[owner],
    )
    delivered = Delivered()
    watch = secret_watch(api, delivered, Delays())

    run(watch.run())
    await watching(cluster)

    (body,) = delivered.bodies
    assert set(body) == {"metadata"}
    assert set(body["metadata"]) == {"name", "namespace", "uid", "resourceVersion", "labels", "ownerReferences"}
    assert "c2VjcmV0" not in str(watch.known)


async def test_a_dropped_watch_resumes_from_the_last_event_without_listing_again(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    delivered = Delivered()
    run(secret_watch(api, delivered, Delays()).run())
    first = await streaming(cluster, delivered, "first")

    await cluster.api.drop_watches()
    resumed = await watching(cluster, 2)
    await secret(cluster, "second")

    await eventually(lambda: delivered.names("ADDED") == ["first", "second"], what="the second Secret watched")
    assert resumed.params["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert len(requests(cluster, "list")) == 1


async def test_a_bookmark_moves_the_version_a_watch_resumes_from(cluster: Cluster, api: ApiClient, run: Run) -> None:
    delivered = Delivered()
    watch = secret_watch(api, delivered, Delays())
    run(watch.run())
    await streaming(cluster, delivered)
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated"}}
    marked = (await cluster.api.create(CONFIGMAPS, other, namespace="ns1"))["metadata"]["resourceVersion"]

    await cluster.api.bookmark(SECRETS)
    await eventually(lambda: watch.resource_version == marked, what="the bookmark taken")
    await cluster.api.drop_watches()

    assert (await watching(cluster, 2)).params["resourceVersion"] == marked


async def test_a_version_too_old_to_resume_lists_again_and_delivers_the_additions_and_deletions_missed(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    await secret(cluster, "deleted")
    await secret(cluster, "rotated")
    delivered = Delivered()
    watch = secret_watch(api, delivered, Delays())
    run(watch.run())
    live = await streaming(cluster, delivered)
    refused = cluster.api.fail_next(503, verb="watch", plural="secrets", times=10_000)
    await cluster.api.drop_watches()
    await eventually(lambda: refused.fired, what="the watch kept away")
    await cluster.api.delete(SECRETS, "ns1", "deleted")
    rotated = await cluster.api.patch(SECRETS, "ns1", "rotated", {"data": {"k": "bmV3"}})
    await secret(cluster, "created")
    cluster.api.expire_history(SECRETS)
    cluster.api.clear_faults()

    await eventually(lambda: len(requests(cluster, "list")) == 2, what="a second list")
    await eventually(lambda: "deleted" in delivered.names("DELETED"), what="the deletion delivered")

    assert sorted(watch.known) == [("ns1", "created"), ("ns1", "live"), ("ns1", "rotated")]
    relisted = delivered.events[3:-1]  # after the first listing and the live Secret, before the deletion
    assert sorted(relisted, key=lambda event: event[2]) == [
        ("ADDED", "ns1", "created", watch.known[("ns1", "created")]["metadata"]["resourceVersion"]),
        (None, "ns1", "live", live["metadata"]["resourceVersion"]),
        (None, "ns1", "rotated", rotated["metadata"]["resourceVersion"]),
    ]
    assert delivered.events[-1][:3] == ("DELETED", "ns1", "deleted")


async def test_a_410_answer_to_the_watch_lists_again_at_once(cluster: Cluster, api: ApiClient, run: Run) -> None:
    cluster.api.fail_next(410, verb="watch", plural="secrets")
    delays = Delays()

    run(secret_watch(api, Delivered(), delays).run())
    await watching(cluster, 2)

    assert len(requests(cluster, "list")) == 2
    assert delays.asked == []  # no wait before the new list


async def test_a_failing_watch_backs_off_longer_each_time_then_resumes_from_the_last_event(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    cluster.api.fail_next(500, verb="watch", plural="secrets", times=2)
    delivered, delays = Delivered(), Delays()
    run(secret_watch(api, delivered, delays).run())
    last = await streaming(cluster, delivered)  # on the third watch
    cluster.api.fail_next(500, verb="watch", plural="secrets", times=3)

    await cluster.api.drop_watches()
    await watching(cluster, 7)  # three refused, and the one resuming

    assert delays.asked == [0, 1, 0, 1, 2]  # an event received starts the backoff over
    resumed = requests(cluster, "watch")[3:]
    assert {r.params["resourceVersion"] for r in resumed} == {last["metadata"]["resourceVersion"]}
    assert len(requests(cluster, "list")) == 1


async def test_a_watch_whose_connection_drops_backs_off_and_resumes_without_listing_again(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    dropped = cluster.api.disconnect_next(verb="watch", plural="secrets", times=2)
    delivered, delays = Delivered(), Delays()
    run(secret_watch(api, delivered, delays).run())

    listed_at = (await watching(cluster)).params["resourceVersion"]
    await eventually(lambda: dropped.times == 0, what="both connections dropped")
    await streaming(cluster, delivered)  # a watch is open again

    assert delays.asked == list(range(len(delays.asked))) and delays.asked  # backed off, longer each time
    assert {r.params["resourceVersion"] for r in requests(cluster, "watch")} == {listed_at}
    assert len(requests(cluster, "list")) == 1


async def test_an_error_event_about_secrets_is_an_api_error_without_the_servers_words(
    cluster: Cluster, api: ApiClient
) -> None:
    await secret(cluster, "s")
    cluster.api.expire_history(SECRETS)

    with pytest.raises(ApiError) as raised:
        async for _ in api.watch_metadata(SECRET, "ns1", resource_version="1", timeout_seconds=5):
            pass

    assert (raised.value.status, raised.value.reason, raised.value.detail) == (410, "Expired", "")


async def test_a_glob_follows_the_matching_namespaces_as_they_come_and_go(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    delivered = Delivered()
    run(
        watch_in_scope(
            api, SECRET, ("team-*",), delivered, retry_delay=Delays(), logger=LOGGER, on_listed=delivered.listed
        )
    )
    for namespace in ("team-a", "team-b"):
        namespace_body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        await cluster.api.create("v1/namespaces", namespace_body)
    await secret(cluster, "outside", "ns1")
    await secret(cluster, "kept", "team-a")
    await eventually(lambda: "kept" in delivered.names(None) + delivered.names("ADDED"), what="team-a's Secret")

    await cluster.api.delete("v1/namespaces", None, "team-a")
    await eventually(lambda: delivered.names("DELETED") == ["kept"], what="team-a's Secret gone with it")
    await secret(cluster, "late", "team-a")
    await secret(cluster, "marker", "team-b")
    await eventually(lambda: "marker" in delivered.names(None) + delivered.names("ADDED"), what="team-b's Secret")

    assert {namespace for _, namespace, _, _ in delivered.events} == {"team-a", "team-b"}
    # Each namespace's watch says it listed; the watch of the namespaces never does.
    assert {namespace for namespace, _ in delivered.lists} == {"team-a", "team-b"}
    assert "late" not in [name for _, _, name, _ in delivered.events]
    assert {r.url.path for r in requests(cluster, "list")} == {
        "/api/v1/namespaces/team-a/secrets",
        "/api/v1/namespaces/team-b/secrets",
    }


async def test_a_glob_without_the_right_to_list_namespaces_watches_the_named_ones_only(
    cluster: Cluster, api: ApiClient, run: Run
) -> None:
    cluster.api.fail_next(403, verb="list", plural="namespaces")

    run(watch_in_scope(api, SECRET, ("ns1", "team-*"), Delivered(), retry_delay=Delays(), logger=LOGGER))

    assert (await watching(cluster)).url.path == "/api/v1/namespaces/ns1/secrets"
    assert len(requests(cluster, "list", "namespaces")) == 1


@pytest.mark.parametrize(
    ("name", "patterns", "served"),
    [
        ("team-a", ("team-*",), True),
        ("ns1", ("team-*",), False),
        ("ns1", ("team-*", "ns1"), True),
        ("kube-system", ("!kube-system",), False),
        ("team-a", ("!kube-system",), True),
        ("myapp-pr-456", ("myapp-*, !*-pr-*, *pr-123",), False),
        ("myapp-pr-123", ("myapp-*, !*-pr-*, *pr-123",), True),
        ("otherapp-pr-123", ("myapp-*, !*-pr-*, *pr-123",), False),
    ],
)
def test_namespace_patterns_follow_kopfs_rules(name: str, patterns: tuple[str, ...], served: bool) -> None:
    assert namespace_matches(name, patterns) is served


def test_names_are_watched_one_by_one_nothing_is_watched_everywhere_and_patterns_are_followed() -> None:
    assert fixed_namespaces(("ns2", "ns1", "ns2")) == ["ns1", "ns2"]
    assert fixed_namespaces(()) == [None]
    for patterns in (("team-*",), ("ns1", "!kube-system"), ("team-[ab]",), ("team-?",)):
        assert fixed_namespaces(patterns) is None


def test_only_a_first_410_lists_again_without_waiting() -> None:
    def doubling(failures: int) -> float:
        return 2.0**failures

    assert failure_delay(410, 0, doubling) == 0.0
    assert failure_delay(410, 1, doubling) == 2.0
    assert failure_delay(500, 0, doubling) == 1.0
    assert failure_delay(0, 3, doubling) == 8.0


def test_only_a_watch_ended_at_once_with_nothing_received_is_a_short_one() -> None:
    assert short_watch(0.1, 0)
    assert not short_watch(0.1, 1)
    assert not short_watch(30.0, 0)


RBAC_REFUSAL = (
    'secrets is forbidden: User "system:serviceaccount:ops:agentos" cannot list resource "secrets"'
    ' in API group "" in the namespace "ns1"'
)


async def test_the_authorizers_refusals_are_logged_at_info_until_they_have_lasted_the_grace(
    cluster: Cluster, api: ApiClient, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    """As an API server that just restarted answers until it has read its RBAC objects; a fake
    clock moves 10 s at each refusal, so the fourth comes 30 s after the first."""
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    ticks = iter(range(0, 1000, 10))
    cluster.api.fail_next(403, verb="list", plural="secrets", times=4, message=RBAC_REFUSAL)
    delivered = Delivered()
    watch = MetadataWatch(
        api, SECRET, "ns1", delivered, retry_delay=Delays(), logger=LOGGER, clock=lambda: float(next(ticks))
    )

    run(watch.run())
    await watching(cluster)

    said = [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records if r.name == LOGGER.name]
    assert said == [
        *[("INFO", "the watch of secrets in ns1 was refused")] * 3,
        ("WARNING", "the watch of secrets in ns1 failed"),
    ]


async def test_a_403_other_than_the_authorizers_is_warned_of_at_once(
    cluster: Cluster, api: ApiClient, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    cluster.api.fail_next(403, verb="list", plural="secrets", message="admission webhook denied the request")

    run(secret_watch(api, Delivered(), Delays()).run())
    await watching(cluster)

    said = [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records if r.name == LOGGER.name]
    assert said == [("WARNING", "the watch of secrets in ns1 failed")]
