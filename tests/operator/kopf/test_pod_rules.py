"""Pure rules of why pods are not ready: what a pod's status says, which reason is the most
telling, what the status then says, and when the operator looks at the pods at all."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from agentos_operator import conditions, events, pods
from agentos_operator.conditions import Obstacle, PodTrouble, Rollout
from agentos_operator.pods import ContainerState, PodState

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
LONG_AGO = NOW - datetime.timedelta(minutes=10)
JUST_NOW = NOW - datetime.timedelta(seconds=5)
SELECTOR = "app.kubernetes.io/instance=demo,app.kubernetes.io/name=agentos"
SCHEDULER_SAID = (
    "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
    "2 No preemption victims found for incoming pod."
)


def stamp(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def container(name: str = "agentos", **state: Any) -> ContainerState:
    return ContainerState(name=name, image=state.pop("image", "registry.example/agentos:1"), ready=False, **state)


def pod(*containers: ContainerState, created: datetime.datetime = LONG_AGO, **fields: Any) -> PodState:
    return PodState(created=created, ready=False, containers=containers, **fields)


def diagnosed(*states: PodState) -> PodTrouble | None:
    return pods.diagnose(states, now=NOW, grace=60, selector=SELECTOR)


# -- what each pod says -------------------------------------------------------------------------------

CASES: list[tuple[str, PodState, str, list[str]]] = [
    (
        "unschedulable for want of cpu",
        pod(unschedulable=SCHEDULER_SAID),
        "Unschedulable",
        [
            "the scheduler finds no node for the pods (Insufficient cpu):",
            "lower spec.resources.requests (cpu), or add nodes with more cpu",
            "the scheduler retries on its own",
        ],
    ),
    (
        "unschedulable for a node selector no node matches",
        pod(unschedulable="0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."),
        "Unschedulable",
        ["set spec.nodeSelector and spec.affinity to labels some node has"],
    ),
    (
        "unschedulable for taints",
        pod(unschedulable="0/1 nodes are available: 1 node(s) had untolerated taint {gpu: true}."),
        "Unschedulable",
        ["add spec.tolerations"],
    ),
    (
        "an image that cannot be pulled",
        pod(container(waiting="ErrImagePull", waiting_message='failed to pull "x": not found', image="r.example/x:9")),
        "ImagePullBackOff",
        [
            "container 'agentos' cannot pull its image 'r.example/x:9'",
            "check spec.image (name and tag)",
            "spec.imagePullSecrets",
            SELECTOR,
        ],
    ),
    (
        "a data volume whose claim does not bind",
        pod(
            unschedulable="0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        ),
        "Unschedulable",
        ["pod has unbound immediate PersistentVolumeClaims", "set spec.persistence.storageClassName"],
    ),
    (
        "an image pull backing off",
        pod(container(waiting="ImagePullBackOff", waiting_message='Back-off pulling image "x"', image="r.example/x:9")),
        "ImagePullBackOff",
        ["container 'agentos' cannot pull its image 'r.example/x:9'"],
    ),
    (
        "an image name that is not valid",
        pod(
            container(
                waiting="InvalidImageName",
                waiting_message='Failed to apply default image tag "Bad:Name": couldn\'t parse image name',
            )
        ),
        "InvalidImageName",
        ['(Failed to apply default image tag "Bad:Name": couldn\'t parse image name)', "fix spec.image"],
    ),
    (
        "a container killed for memory, waiting to start again",
        pod(container(waiting="CrashLoopBackOff", last_ended="OOMKilled", exit_code=137, restarts=4)),
        "CrashLoopBackOff",
        [
            "container 'agentos' keeps crashing (CrashLoopBackOff; it last ended OOMKilled, exit code 137)",
            "raise spec.resources.limits.memory",
        ],
    ),
    (
        "a container that exits in error",
        pod(container(waiting="CrashLoopBackOff", last_ended="Error", exit_code=1, restarts=2)),
        "CrashLoopBackOff",
        [f"`kubectl logs -l {SELECTOR} -c agentos --previous` shows why", "exit code 1"],
    ),
    (
        "a sidecar killed for memory",
        pod(container("mcp-time", waiting="CrashLoopBackOff", last_ended="OOMKilled", exit_code=137, restarts=1)),
        "CrashLoopBackOff",
        ["container 'mcp-time'", "spec.mcpServers[id=time].sidecar.resources.limits.memory"],
    ),
    (
        "a missing Secret",
        pod(container(waiting="CreateContainerConfigError", waiting_message='secret "db-url" not found')),
        "CreateContainerConfigError",
        ['(secret "db-url" not found)', "create the Secret 'db-url'", "the kubelet retries on its own"],
    ),
    (
        "a missing Secret key",
        pod(
            container(
                waiting="CreateContainerConfigError",
                waiting_message="couldn't find key uri in Secret t-1/db-url",
            )
        ),
        "CreateContainerConfigError",
        ["add the key 'uri' to the Secret it names"],
    ),
    (
        "a container that cannot start",
        pod(container(waiting="RunContainerError", waiting_message="failed to start container 0123abcd")),
        "PodsNotReady",
        ["container 'agentos' cannot start (RunContainerError)"],
    ),
    (
        "a readiness probe that keeps failing",
        pod(container()),
        "PodsNotReady",
        ["container 'agentos' runs but does not become ready: its readiness probe fails"],
    ),
    (
        "containers still being created long after",
        pod(container(waiting="ContainerCreating")),
        "PodsNotReady",
        ["still being created (ContainerCreating)", "often a volume that cannot be mounted"],
    ),
]


@pytest.mark.parametrize(("case", "state", "reason", "said"), CASES, ids=[c[0] for c in CASES])
def test_each_pod_status_is_named_by_its_kubernetes_reason_with_what_to_do(
    case: str, state: PodState, reason: str, said: list[str]
) -> None:
    trouble = diagnosed(state)

    assert trouble is not None and trouble.reason == reason
    for words in said:
        assert words in trouble.message
    assert trouble.reason in conditions.WARNING_REASONS


def test_no_message_names_a_pod_counts_restarts_or_quotes_a_changing_kubernetes_message() -> None:
    first = diagnosed(pod(container(waiting="CrashLoopBackOff", last_ended="Error", exit_code=1, restarts=3)))
    later = diagnosed(pod(container(waiting="CrashLoopBackOff", last_ended="Error", exit_code=1, restarts=9)))
    started_again = diagnosed(pod(container(last_ended="Error", exit_code=1, restarts=10)))

    assert first == later == started_again, "a crash loop reads the same waiting, restarted, and however often"
    pulling = diagnosed(pod(container(waiting="ErrImagePull", waiting_message="rpc error: not found")))
    backing_off = diagnosed(pod(container(waiting="ImagePullBackOff", waiting_message='Back-off pulling image "x"')))
    assert pulling == backing_off, "a pull alternates between the two reasons: one condition, one Warning"
    assert "restart" not in (first.message if first else "")
    assert "0123abcd" not in str(diagnosed(pod(container(waiting="RunContainerError", waiting_message="0123abcd"))))


def test_the_scheduler_is_quoted_without_its_account_of_preemption_and_briefly() -> None:
    trouble = diagnosed(pod(unschedulable=SCHEDULER_SAID))
    long = diagnosed(pod(unschedulable="0/900 nodes are available: " + "1 Insufficient cpu, " * 400))

    assert trouble is not None and "preemption" not in trouble.message
    assert long is not None and len(long.message) < 700


def test_an_unschedulable_message_does_not_change_when_the_cluster_gains_a_node() -> None:
    two_nodes = diagnosed(pod(unschedulable=SCHEDULER_SAID))
    three_nodes = diagnosed(
        pod(
            unschedulable="0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
            "3 No preemption victims found for incoming pod."
        )
    )

    assert two_nodes is not None and two_nodes == three_nodes
    assert "0/" not in two_nodes.message and "2 Insufficient" not in two_nodes.message


def test_an_unschedulable_message_keeps_every_reason_the_scheduler_gives_once_each_without_counts() -> None:
    mixed = (
        "0/5 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {gpu: true}, "
        "3 Insufficient cpu. preemption: 0/5 nodes are available: 1 Preemption is not helpful for scheduling, "
        "4 No preemption victims found for incoming pod."
    )
    reordered = (
        "0/6 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 2 Insufficient memory, "
        "3 Insufficient cpu. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod."
    )

    assert (
        pods.scheduler_reasons(mixed)
        == "Insufficient cpu; Insufficient memory; node(s) had untolerated taint {gpu: true}"
    )
    assert diagnosed(pod(unschedulable=mixed)) == diagnosed(pod(unschedulable=reordered))
    assert "lower spec.resources.requests (cpu and memory)" in diagnosed(pod(unschedulable=mixed)).message  # type: ignore[union-attr]


def test_pods_the_spread_constraints_keep_off_every_node_are_told_to_relax_them() -> None:
    said = (
        "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints (missing required label). "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    trouble = diagnosed(pod(unschedulable=said))

    assert trouble is not None
    assert "node(s) didn't match pod topology spread constraints (missing required label)" in trouble.message
    assert "relax spec.topologySpreadConstraints" in trouble.message


@pytest.mark.parametrize(
    ("said", "reasons"),
    [
        (
            "0/1 nodes are available: 1 Insufficient cpu. no new claims to deallocate, preemption: "
            "0/1 nodes are available: 1 No preemption victims found for incoming pod.",
            "Insufficient cpu",
        ),
        (
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: "
            "0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
            "pod has unbound immediate PersistentVolumeClaims",
        ),
        ("no nodes available to schedule pods", "no nodes available to schedule pods"),
        ("0/0 nodes are available: .", "no node is available"),
        (
            "0/2 nodes are available: 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.",
            "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
        ),
    ],
    ids=["a-first-sentence-only", "a-plugins-message", "no-nodes", "zero-nodes", "a-dotted-taint"],
)
def test_the_scheduler_is_read_in_each_form_it_answers_in(said: str, reasons: str) -> None:
    assert pods.scheduler_reasons(said) == reasons


def test_the_most_telling_reason_wins_whatever_the_order_of_the_pods() -> None:
    crashing = pod(container(waiting="CrashLoopBackOff", last_ended="OOMKilled", exit_code=137, restarts=1))
    unschedulable = pod(unschedulable=SCHEDULER_SAID)
    missing_secret = pod(container(waiting="CreateContainerConfigError", waiting_message='secret "s" not found'))
    probe = pod(container())

    assert diagnosed(unschedulable, crashing, probe) == diagnosed(probe, crashing, unschedulable)
    assert diagnosed(probe, unschedulable, crashing).reason == "CrashLoopBackOff"  # type: ignore[union-attr]
    assert diagnosed(crashing, missing_secret).reason == "CreateContainerConfigError"  # type: ignore[union-attr]
    assert diagnosed(probe, unschedulable).reason == "Unschedulable"  # type: ignore[union-attr]


def test_ready_pods_and_pods_still_starting_say_nothing() -> None:
    ready = PodState(created=LONG_AGO, ready=True, containers=(ContainerState("agentos", "i", ready=True),))
    young_probe = pod(container(), created=JUST_NOW)
    young_creating = pod(container(waiting="ContainerCreating"), created=JUST_NOW)

    assert diagnosed() is None
    assert diagnosed(ready, young_probe, young_creating) is None
    # Containers being created (a large image's pull looks the same) are stuck only after three graces.
    two_minutes_creating = pod(container(waiting="ContainerCreating"), created=NOW - datetime.timedelta(minutes=2))
    assert diagnosed(two_minutes_creating) is None
    two_minutes_probe = pod(container(), created=NOW - datetime.timedelta(minutes=2))
    assert diagnosed(two_minutes_probe).reason == "PodsNotReady"  # type: ignore[union-attr]
    # What cannot pass by waiting is said of a young pod too.
    young_pull = pod(container(waiting="ErrImagePull"), created=JUST_NOW)
    assert diagnosed(young_pull).reason == "ImagePullBackOff"  # type: ignore[union-attr]


PROBE_TOLD = PodTrouble("PodsNotReady", "container 'agentos' runs but does not become ready: told before")
CRASH_TOLD = PodTrouble("CrashLoopBackOff", "container 'agentos' keeps crashing: told before")


def test_a_replaced_pod_failing_its_probe_is_said_at_once_when_the_status_told_so_already() -> None:
    replaced = pod(container(), created=JUST_NOW)
    said = pods.diagnose([replaced], now=NOW, grace=60, selector=SELECTOR, told=PROBE_TOLD)

    assert said is not None and said.reason == "PodsNotReady"
    assert said.message.startswith("container 'agentos' runs but does not become ready: its readiness probe")
    assert diagnosed(replaced) is None


def test_while_a_replaced_pod_still_starts_what_the_status_told_is_kept() -> None:
    pending = PodState(created=JUST_NOW, ready=False)  # scheduled or not, no container status yet
    creating = pod(container(waiting="ContainerCreating"), created=JUST_NOW)
    running = pod(container(), created=JUST_NOW)

    for starting in (pending, creating):
        assert pods.diagnose([starting], now=NOW, grace=60, selector=SELECTOR, told=PROBE_TOLD) == PROBE_TOLD
        assert pods.diagnose([starting], now=NOW, grace=60, selector=SELECTOR, told=CRASH_TOLD) == CRASH_TOLD
        assert diagnosed(starting) is None, "nothing told: a starting pod says nothing"
    # Told it crashes, a replacement that runs and is not ready yet is still starting too.
    assert pods.diagnose([running], now=NOW, grace=60, selector=SELECTOR, told=CRASH_TOLD) == CRASH_TOLD


def test_what_the_status_told_goes_once_the_pods_say_otherwise_or_there_are_none() -> None:
    missing_secret = pod(
        container(waiting="CreateContainerConfigError", waiting_message='secret "s" not found'), created=JUST_NOW
    )
    said = pods.diagnose([missing_secret], now=NOW, grace=60, selector=SELECTOR, told=PROBE_TOLD)
    assert said is not None and said.reason == "CreateContainerConfigError"
    long_creating = pod(container(waiting="ContainerCreating"), created=NOW - datetime.timedelta(minutes=4))
    said = pods.diagnose([long_creating], now=NOW, grace=60, selector=SELECTOR, told=CRASH_TOLD)
    assert said is not None and said.message.startswith("container 'agentos' is still being created")
    assert pods.diagnose([], now=NOW, grace=60, selector=SELECTOR, told=CRASH_TOLD) is None


# -- what a listed pod is read as -----------------------------------------------------------------------


def listed_pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "demo-7d9f-x2x", "creationTimestamp": stamp(LONG_AGO)},
        "spec": {"containers": [{"name": "agentos", "env": [{"name": "TOKEN", "value": "s3cr3t"}]}]},
        "status": status,
    }


def test_a_listed_pod_keeps_only_what_the_diagnosis_reads() -> None:
    state = pods.pod_state_of(
        listed_pod(
            phase="Running",
            conditions=[{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}],
            initContainerStatuses=[{"name": "mcp-time", "ready": True, "restartCount": 0, "image": "m:1"}],
            containerStatuses=[
                {
                    "name": "agentos",
                    "image": "a:1",
                    "ready": False,
                    "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                }
            ],
        )
    )

    assert state == PodState(
        created=LONG_AGO,
        ready=False,
        containers=(
            ContainerState("mcp-time", "m:1", ready=True),
            ContainerState(
                "agentos",
                "a:1",
                ready=False,
                waiting="CrashLoopBackOff",
                waiting_message="back-off 40s restarting",
                last_ended="OOMKilled",
                exit_code=137,
                restarts=3,
            ),
        ),
    )
    assert "s3cr3t" not in repr(state), "a pod's spec (its env values) is not kept"


def test_an_unschedulable_pod_keeps_the_schedulers_message() -> None:
    state = pods.pod_state_of(
        listed_pod(
            phase="Pending",
            conditions=[
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": SCHEDULER_SAID}
            ],
        )
    )

    assert state is not None and state.unschedulable == SCHEDULER_SAID and state.containers == ()


def test_pods_being_deleted_or_finished_are_not_read() -> None:
    deleting = listed_pod(phase="Running")
    deleting["metadata"]["deletionTimestamp"] = stamp(NOW)

    assert pods.pod_state_of(deleting) is None
    assert pods.pod_state_of(listed_pod(phase="Failed", reason="Evicted")) is None
    assert pods.pod_state_of(listed_pod(phase="Succeeded")) is None


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("NewReplicaSetCreated", 'Created new replica set "demo-6c4b9"'),
        ("FoundNewReplicaSet", 'Found new replica set "demo-6c4b9"'),
        ("ReplicaSetUpdated", 'ReplicaSet "demo-6c4b9" is progressing.'),
        ("NewReplicaSetAvailable", 'ReplicaSet "demo-6c4b9" has successfully progressed.'),
        ("ProgressDeadlineExceeded", 'ReplicaSet "demo-6c4b9" has timed out progressing.'),
    ],
)
def test_the_newest_replica_set_is_read_from_each_progressing_message_of_the_deployment_controller(
    reason: str, message: str
) -> None:
    live = {
        "metadata": {"name": "demo"},
        "status": {"conditions": [{"type": "Progressing", "reason": reason, "message": message}]},
    }

    assert pods.newest_replica_set(live) == "demo-6c4b9"


def test_a_progressing_message_naming_no_replica_set_of_the_deployment_names_none() -> None:
    def live(reason: str, message: str) -> dict[str, Any]:
        condition = {"type": "Progressing", "reason": reason, "message": message}
        return {"metadata": {"name": "demo"}, "status": {"conditions": [condition]}}

    assert (
        pods.newest_replica_set(live("ProgressDeadlineExceeded", 'Deployment "demo" has timed out progressing.'))
        is None
    )
    assert pods.newest_replica_set(live("ReplicaSetUpdated", 'ReplicaSet "other-6c4b9" is progressing.')) is None
    assert pods.newest_replica_set(live("SomethingElse", 'ReplicaSet "demo-6c4b9" is progressing.')) is None
    assert pods.newest_replica_set({"metadata": {"name": "demo"}}) is None


def test_only_the_newest_replica_sets_pods_are_read_when_it_is_known() -> None:
    def of(replica_set: str | None) -> dict[str, Any]:
        pod = listed_pod(phase="Running", conditions=[{"type": "Ready", "status": "False"}])
        if replica_set is not None:
            pod["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": replica_set, "controller": True}]
        return pod

    listed = [of("demo-5d8f7"), of("demo-6c4b9"), of(None)]

    assert len(pods.unready(listed, replica_set="demo-6c4b9")) == 2  # the newest's, and one no ReplicaSet made
    assert len(pods.unready(listed)) == 3


# -- when the pods are looked at ------------------------------------------------------------------------


def deployment(*conditions_: dict[str, Any], created: datetime.datetime = LONG_AGO) -> dict[str, Any]:
    return {"metadata": {"creationTimestamp": stamp(created)}, "status": {"conditions": list(conditions_)}}


def progressing(updated: datetime.datetime, status: str = "True", reason: str = "ReplicaSetUpdated") -> dict[str, Any]:
    return {
        "type": "Progressing",
        "status": status,
        "reason": reason,
        "lastUpdateTime": stamp(updated),
        "lastTransitionTime": stamp(LONG_AGO),
    }


def unavailable(since: datetime.datetime) -> dict[str, Any]:
    return {
        "type": "Available",
        "status": "False",
        "reason": "MinimumReplicasUnavailable",
        "lastTransitionTime": stamp(since),
    }


def look(live: dict[str, Any], *, grace: float = 60, longest: float = 300, told: bool = False) -> pods.Look:
    return pods.when_to_look(live, now=NOW, grace=grace, longest=longest, told=told)


def test_pods_that_may_still_be_starting_are_not_listed_but_looked_at_once_they_could_be_ready() -> None:
    assert look(deployment(progressing(NOW - datetime.timedelta(seconds=20)))) == pods.Look(now=False, again_in=40)
    # A Deployment its controller has not reported on yet counts from its creation.
    assert look(deployment(created=NOW - datetime.timedelta(seconds=5))) == pods.Look(now=False, again_in=55)


def test_a_rollout_without_progress_for_the_grace_period_is_listed_and_looked_at_again_later_and_later() -> None:
    assert look(deployment(progressing(NOW - datetime.timedelta(seconds=60)))) == pods.Look(now=True, again_in=60)
    assert look(deployment(progressing(NOW - datetime.timedelta(seconds=130)))) == pods.Look(now=True, again_in=130)
    assert look(deployment(progressing(NOW - datetime.timedelta(hours=3)))) == pods.Look(now=True, again_in=300)


def test_a_deployment_that_just_became_unavailable_counts_from_then() -> None:
    complete = progressing(LONG_AGO, reason="NewReplicaSetAvailable")

    assert look(deployment(complete, unavailable(NOW - datetime.timedelta(seconds=10)))).now is False
    assert look(deployment(complete, unavailable(NOW - datetime.timedelta(seconds=90)))).now is True


def test_a_deployment_past_its_progress_deadline_is_listed_at_once() -> None:
    # The controller moves lastUpdateTime when it declares the deadline passed: that is no progress.
    past = progressing(NOW - datetime.timedelta(seconds=1), status="False", reason="ProgressDeadlineExceeded")

    assert look(deployment(past)).now is True


def test_a_clock_behind_the_api_servers_waits_the_grace_period_and_never_loops_busily() -> None:
    ahead = look(deployment(progressing(NOW + datetime.timedelta(seconds=30))))
    tiny = look(deployment(progressing(NOW - datetime.timedelta(seconds=60))), grace=0.01, longest=0.01)

    assert ahead == pods.Look(now=False, again_in=60)
    assert tiny.now and tiny.again_in >= 0.01


def test_a_status_that_already_says_why_is_looked_at_again_at_once_when_other_pods_made_progress() -> None:
    # A previous spec's pod replaced just now: progress to the Deployment controller.
    replaced = deployment(progressing(NOW - datetime.timedelta(seconds=5)))

    assert look(replaced).now is False
    assert look(replaced, told=True) == pods.Look(now=True, again_in=60)


# -- pods the cluster refuses for a moment ------------------------------------------------------------
NO_DEFAULT_ACCOUNT = (
    'pods "demo-6f769fbb96-ll2mz" is forbidden: error looking up service account t-1/default: '
    'serviceaccount "default" not found'
)
QUOTA = 'pods "demo-6f769fbb96-zxw22" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0'


def refused_since(message: str, since: datetime.datetime | None) -> dict[str, Any]:
    refusal: dict[str, Any] = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message}
    if since is not None:
        refusal |= {"lastUpdateTime": stamp(since), "lastTransitionTime": stamp(since)}
    return deployment(refusal)


def settling(live: dict[str, Any]) -> float | None:
    return pods.settling_refusal(live, now=NOW, grace=60)


def test_a_namespace_whose_default_service_account_is_not_made_yet_is_waited_for_the_grace_period() -> None:
    assert settling(refused_since(NO_DEFAULT_ACCOUNT, NOW - datetime.timedelta(seconds=2))) == 58
    # Then Kubernetes is not making it: the status says so.
    assert settling(refused_since(NO_DEFAULT_ACCOUNT, NOW - datetime.timedelta(seconds=60))) is None
    assert settling(refused_since(NO_DEFAULT_ACCOUNT, LONG_AGO)) is None


def test_other_refusals_and_refusals_of_unknown_age_are_said_at_once() -> None:
    assert settling(refused_since(QUOTA, NOW - datetime.timedelta(seconds=2))) is None
    assert settling(refused_since(NO_DEFAULT_ACCOUNT, None)) is None
    assert settling(deployment(progressing(NOW))) is None


def test_a_refusal_stamped_by_a_clock_ahead_waits_no_longer_than_the_grace_period() -> None:
    ahead = settling(refused_since(NO_DEFAULT_ACCOUNT, NOW + datetime.timedelta(seconds=30)))
    almost = pods.settling_refusal(
        refused_since(NO_DEFAULT_ACCOUNT, NOW - datetime.timedelta(seconds=60)), now=NOW, grace=60.5
    )

    assert ahead == 60
    assert almost == pods.SHORTEST_WAIT, "never a busy loop"


def told_status(reason: str, generation: int = 2) -> list[dict[str, Any]]:
    return conditions.merge(
        [], [conditions.Condition("Ready", "False", reason, "why")], now=stamp(NOW), generation=generation
    )


def test_only_a_status_that_says_why_this_generations_pods_are_not_ready_has_told() -> None:
    assert pods.told(told_status("CrashLoopBackOff"), 2) == PodTrouble("CrashLoopBackOff", "why")
    assert pods.told(told_status("PodsNotReady"), 2) == PodTrouble("PodsNotReady", "why")
    assert pods.told(told_status("CrashLoopBackOff", generation=1), 2) is None, "a spec change: new pods start"
    assert pods.told(told_status("DeploymentUnavailable"), 2) is None
    assert pods.told(told_status("PodsNotCreated"), 2) is None, "read from the Deployment, not from the pods"
    assert pods.told([], 2) is None


# -- what the status says ---------------------------------------------------------------------------------

STUCK = Rollout(desired=1, ready=0, available=0, updated=1, current=True, total=1, selector=SELECTOR)
CRASHING = PodTrouble("CrashLoopBackOff", "container 'agentos' keeps crashing (CrashLoopBackOff; it last ended Error)")


def by_type(entries: list[conditions.Condition]) -> dict[str, conditions.Condition]:
    return {c.type: c for c in entries}


def test_pods_that_do_not_become_ready_make_ready_false_and_degraded_but_not_stalled() -> None:
    found = by_type(conditions.applied(STUCK, CRASHING))

    assert (found["Ready"].status, found["Ready"].reason, found["Ready"].message) == (
        "False",
        "CrashLoopBackOff",
        CRASHING.message,
    )
    assert (found["Degraded"].status, found["Degraded"].reason) == ("True", "CrashLoopBackOff")
    assert (found["Progressing"].status, found["Reconciling"].status, found["Stalled"].status) == (
        "True",
        "True",
        "False",
    )


def test_past_the_progress_deadline_the_pods_reason_stays_and_stalled_is_true() -> None:
    late = Rollout(**{**STUCK.__dict__, "obstacle": Obstacle(pods_refused=None, deadline="ReplicaSet has timed out")})

    found = by_type(conditions.applied(late, CRASHING))

    assert found["Ready"].reason == "CrashLoopBackOff"
    assert found["Ready"].message.endswith("; the Deployment's progress deadline has passed")
    assert (found["Stalled"].status, found["Stalled"].reason) == ("True", "CrashLoopBackOff")


def test_pods_the_cluster_refuses_are_said_before_what_other_pods_say() -> None:
    refused = Rollout(**{**STUCK.__dict__, "obstacle": Obstacle(pods_refused="exceeded quota: q", deadline=None)})

    assert by_type(conditions.applied(refused, CRASHING))["Ready"].reason == "PodsNotCreated"


def test_a_done_rollout_is_available_whatever_was_said_of_its_pods() -> None:
    done = Rollout(desired=1, ready=1, available=1, updated=1, current=True, total=1)

    assert by_type(conditions.applied(done, CRASHING))["Ready"].reason == "Available"


def test_the_warning_is_told_once_per_distinct_reason_and_message() -> None:
    before = conditions.merge([], conditions.applied(STUCK), now=stamp(LONG_AGO), generation=1)
    crashing = conditions.merge(before, conditions.applied(STUCK, CRASHING), now=stamp(NOW), generation=1)
    again = conditions.merge(crashing, conditions.applied(STUCK, CRASHING), now=stamp(NOW), generation=1)
    oom = PodTrouble(
        "CrashLoopBackOff", "container 'agentos' keeps crashing (CrashLoopBackOff; it last ended OOMKilled)"
    )
    other = conditions.merge(again, conditions.applied(STUCK, oom), now=stamp(NOW), generation=1)

    assert events.for_transition(before, crashing) == [events.Notice("Warning", "CrashLoopBackOff", CRASHING.message)]
    assert events.for_transition(crashing, again) == []
    assert events.for_transition(again, other) == [events.Notice("Warning", "CrashLoopBackOff", oom.message)]


# -- a stuck rollout whose previous pods come and go ---------------------------------------------------------

UNSCHEDULABLE = PodTrouble("Unschedulable", "the scheduler finds no node for the pods (Insufficient cpu): add nodes")


def rolling(*, available: int) -> Rollout:
    """Two replicas desired, one pod of the latest spec stuck, ``available`` of the previous spec's pods serving."""
    return Rollout(desired=2, ready=available, available=available, updated=1, current=True, total=available + 1)


@pytest.mark.parametrize("serving", [0, 1], ids=["none-serving", "previous-serving"])
@pytest.mark.parametrize("deadline", [None, "ReplicaSet has timed out progressing."], ids=["in-time", "deadline"])
def test_the_trouble_a_status_told_read_back_and_applied_again_writes_the_same_message(
    serving: int, deadline: str | None
) -> None:
    rollout = Rollout(
        desired=2, ready=serving, available=serving, updated=1, current=True, total=serving + 1,
        obstacle=Obstacle(None, deadline) if deadline else None,
    )  # fmt: skip
    for trouble in (CRASHING, PodTrouble("CreateContainerConfigError", "x" * 2000)):
        status = conditions.merge([], conditions.applied(rollout, trouble), now=stamp(NOW), generation=2)
        told = pods.told(status, 2)

        assert told is not None and told.reason == trouble.reason
        again = conditions.merge(status, conditions.applied(rollout, told), now=stamp(NOW), generation=2)
        assert again == status


def told_over(rollouts: list[Rollout], trouble: PodTrouble) -> tuple[list[events.Notice], list[str]]:
    """The Events a status going through ``rollouts`` tells, and what its Ready condition says at each."""
    status: list[dict[str, Any]] = []
    notices, messages = [], []
    for rollout in rollouts:
        after = conditions.merge(status, conditions.applied(rollout, trouble), now=stamp(NOW), generation=1)
        notices += events.for_transition(status, after)
        messages.append(str(conditions.find(after, "Ready")["message"]))  # type: ignore[index]
        status = after
    return notices, messages


def test_a_stuck_rollout_whose_previous_pods_come_and_go_posts_one_warning() -> None:
    notices, _ = told_over([rolling(available=2), rolling(available=1), rolling(available=2)], UNSCHEDULABLE)

    assert notices == [
        events.Notice("Warning", "Unschedulable", f"{UNSCHEDULABLE.message}; the previous pods serve meanwhile")
    ]


def test_the_status_still_says_whether_the_previous_pods_serve_as_they_come_and_go() -> None:
    _, messages = told_over([rolling(available=2), rolling(available=1), rolling(available=2)], UNSCHEDULABLE)

    assert messages == [
        f"{UNSCHEDULABLE.message}; the previous pods serve meanwhile",
        UNSCHEDULABLE.message,
        f"{UNSCHEDULABLE.message}; the previous pods serve meanwhile",
    ]


def test_a_cause_that_changes_while_the_previous_pods_serve_is_a_new_warning() -> None:
    before = conditions.merge([], conditions.applied(rolling(available=2), UNSCHEDULABLE), now=stamp(NOW), generation=1)
    crashing = conditions.merge(
        before, conditions.applied(rolling(available=2), CRASHING), now=stamp(NOW), generation=1
    )
    other = PodTrouble("Unschedulable", "the scheduler finds no node for the pods (Insufficient memory): add nodes")
    short = conditions.merge(before, conditions.applied(rolling(available=1), other), now=stamp(NOW), generation=1)

    assert [n.reason for n in events.for_transition(before, crashing)] == ["CrashLoopBackOff"]
    assert events.for_transition(before, short) == [events.Notice("Warning", "Unschedulable", other.message)]


def test_the_previous_pods_serving_is_said_after_a_cause_of_any_length() -> None:
    long = PodTrouble("CreateContainerConfigError", "container 'agentos' cannot be created " + "x" * 2000)

    ready = by_type(conditions.applied(rolling(available=2), long))["Ready"]
    entry = conditions.merge([], [ready], now=stamp(NOW), generation=1)[0]

    assert entry["message"].endswith("; the previous pods serve meanwhile")
    assert len(entry["message"]) <= conditions.MESSAGE_MAX_LENGTH


def test_a_scheduler_that_gave_no_words_is_not_quoted_as_empty() -> None:
    trouble = diagnosed(pod(unschedulable=""))

    assert trouble is not None and trouble.reason == "Unschedulable"
    assert "('')" not in trouble.message and "()" not in trouble.message
    assert trouble.message.startswith("the scheduler finds no node for the pods: ")
