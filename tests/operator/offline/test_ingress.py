"""spec.ingress: the Ingress render makes of it, what is refused (at the field), the URL the status
tells, and that the form the API server stores it in is no drift."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from agentos_operator import drift, render, status
from agentos_operator.resources import AgentOSResource, parse_resource, validate_resource
from agentos_operator.spec import IngressSpec

from tests.operator.offline.inputs import resource_body

SETTINGS = render.RenderSettings(default_image="registry.example/agentos:1")
HOST = "agents.example.com"


def resource(**spec: Any) -> AgentOSResource:
    spec.setdefault("models", [{"id": "m", "apiKeySecretRef": {"name": "openai", "key": "api-key"}}])
    spec.setdefault("agents", [{"id": "a", "model": "m"}])
    body = resource_body(spec)
    body["metadata"]["uid"] = "uid-1"
    return parse_resource(body)


def manifests(res: AgentOSResource) -> list[dict[str, Any]]:
    return render.render(res, render.placeholder_secrets(res), settings=SETTINGS)


def ingress_of(res: AgentOSResource) -> dict[str, Any] | None:
    found = [m for m in manifests(res) if m["kind"] == "Ingress"]
    return found[0] if found else None


def problems(**ingress: Any) -> list[str]:
    body = resource_body(
        {
            "models": [{"id": "m", "apiKeySecretRef": {"name": "openai", "key": "api-key"}}],
            "agents": [{"id": "a", "model": "m"}],
            "ingress": ingress,
        }
    )
    return [str(problem) for problem in validate_resource(body)]


def test_an_enabled_ingress_routes_its_host_and_path_to_the_services_port_by_name() -> None:
    res = resource(service={"port": 8080}, ingress={"enabled": True, "host": HOST})
    ingress = ingress_of(res)
    service = next(m for m in manifests(res) if m["kind"] == "Service")

    assert ingress is not None
    assert (ingress["apiVersion"], ingress["metadata"]["name"]) == ("networking.k8s.io/v1", "demo")
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert (rule["host"], path["path"], path["pathType"]) == (HOST, "/", "Prefix")
    port_name = service["spec"]["ports"][0]["name"]
    assert path["backend"] == {"service": {"name": service["metadata"]["name"], "port": {"name": port_name}}}
    # Owned and labelled as every other child, so it is watched, pruned and collected with the resource.
    assert ingress["metadata"]["ownerReferences"] == service["metadata"]["ownerReferences"]
    assert ingress["metadata"]["labels"] == service["metadata"]["labels"]
    assert "tls" not in ingress["spec"] and "ingressClassName" not in ingress["spec"]
    assert "annotations" not in ingress["metadata"]


def test_class_annotations_and_tls_are_the_ingresss_when_asked() -> None:
    asked = {
        "enabled": True,
        "host": HOST,
        "path": "/agentos",
        "className": "nginx",
        "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "300"},
        "tls": {"secretName": "agents-tls"},
    }
    ingress = ingress_of(resource(ingress=asked))

    assert ingress is not None
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": [HOST], "secretName": "agents-tls"}]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/agentos"
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/proxy-read-timeout": "300"}


@pytest.mark.parametrize("ingress", [None, {"enabled": False, "host": HOST}, {"host": HOST}])
def test_no_ingress_is_rendered_unless_enabled(ingress: dict[str, Any] | None) -> None:
    res = resource(**({"ingress": ingress} if ingress is not None else {}))
    assert ingress_of(res) is None


def test_the_ingress_comes_last_in_the_apply_order() -> None:
    res = resource(networkPolicy={"enabled": True}, ingress={"enabled": True, "host": HOST})
    assert [m["kind"] for m in manifests(res)][-2:] == ["NetworkPolicy", "Ingress"]


@pytest.mark.parametrize(
    ("ingress", "field", "words"),
    [
        ({"enabled": True}, "spec.ingress.host", "an enabled ingress needs host"),
        ({"enabled": True, "host": "10.0.0.1"}, "spec.ingress.host", "is an IP address"),
        ({"enabled": True, "host": "Agents.Example.com"}, "spec.ingress.host", "not a DNS name"),
        ({"enabled": True, "host": "agents.example.com:443"}, "spec.ingress.host", "not a DNS name"),
        ({"enabled": True, "host": "*.example.com"}, "spec.ingress.host", "not a DNS name"),
        ({"enabled": True, "host": f"{'a' * 64}.example.com"}, "spec.ingress.host", "not a DNS name"),
        ({"enabled": True, "host": HOST, "path": "agents"}, "spec.ingress.path", "not an absolute path"),
        ({"enabled": True, "host": HOST, "path": "/a//b"}, "spec.ingress.path", "must not contain '//'"),
        ({"enabled": True, "host": HOST, "path": "/a/../b"}, "spec.ingress.path", "must not contain '/../'"),
        ({"enabled": True, "host": HOST, "path": "/a%2Fb"}, "spec.ingress.path", "must not contain '%2F'"),
        ({"enabled": True, "host": HOST, "path": "/a/."}, "spec.ingress.path", "must not end with '/.'"),
        ({"enabled": True, "host": HOST, "path": "/a b"}, "spec.ingress.path", "not an absolute path"),
        ({"enabled": True, "host": HOST, "tls": {}}, "spec.ingress.tls.secretName", "required"),
        (
            {"enabled": True, "host": HOST, "tls": {"secretName": "Bad_Name"}},
            "spec.ingress.tls.secretName",
            "not a valid Kubernetes name",
        ),
        (
            {"enabled": True, "host": HOST, "className": "Nginx"},
            "spec.ingress.className",
            "not a valid Kubernetes name",
        ),
    ],
)
def test_a_bad_ingress_is_refused_at_its_field(ingress: dict[str, Any], field: str, words: str) -> None:
    found = problems(**ingress)
    assert len(found) == 1, found
    assert found[0].startswith(f"{field}:"), found
    assert words.lower() in found[0].lower(), found


@pytest.mark.parametrize(
    "ingress",
    [
        {"enabled": False},
        {"enabled": True, "host": "localhost"},
        {"enabled": True, "host": "agents-1.team.example.com", "path": "/agentos/v1"},
        {"enabled": True, "host": "1.2.3.example", "tls": {"secretName": "t"}, "className": "traefik"},
    ],
)
def test_a_good_ingress_is_accepted(ingress: dict[str, Any]) -> None:
    assert problems(**ingress) == []


def test_ingress_annotation_keys_the_api_server_would_refuse_are_named() -> None:
    res = resource(ingress={"enabled": True, "host": HOST, "annotations": {"-bad": "v", "example.com/ok": "v"}})
    found = [str(problem) for problem in render.check_manifests(res, manifests(res))]
    assert len(found) == 1 and found[0].startswith("spec.ingress.annotations.-bad:"), found
    assert "not a valid annotation key" in found[0]


@pytest.mark.parametrize(
    ("ingress", "url"),
    [
        ({"enabled": True, "host": HOST}, f"http://{HOST}/"),
        ({"enabled": True, "host": HOST, "path": "/agentos"}, f"http://{HOST}/agentos"),
        ({"enabled": True, "host": HOST, "tls": {"secretName": "t"}}, f"https://{HOST}/"),
        ({"enabled": False, "host": HOST, "tls": {"secretName": "t"}}, None),
    ],
)
def test_the_external_url_is_https_with_tls_and_none_when_off(ingress: dict[str, Any], url: str | None) -> None:
    assert IngressSpec.model_validate(ingress).url == url


def test_the_status_tells_the_ingress_url_beside_the_service_url_and_drops_it_when_gone() -> None:
    owner = ("demo", "ns")
    url = status.service_url("demo", "ns", 7777)
    common: dict[str, Any] = {"owner": owner, "generation": 1, "conditions": [], "deployment": None}

    told = status.build(previous={}, learnt=status.Learnt(url, f"https://{HOST}/", "abc"), **common)
    assert (told["url"], told["ingressUrl"]) == (url, f"https://{HOST}/")
    assert status.patch({}, told)["ingressUrl"] == f"https://{HOST}/"

    # A blocked reconcile learns nothing of it and keeps it; a converged one without an Ingress drops it.
    blocked = status.build(previous=told, owner=owner, generation=2, conditions=[], deployment=None)
    assert blocked["ingressUrl"] == f"https://{HOST}/"
    gone = status.build(previous=told, learnt=status.Learnt(url, None, "abc"), **common)
    assert "ingressUrl" not in gone
    assert status.changed(told, gone) and status.patch(told, gone) == {"ingressUrl": None}


def test_a_kept_ingress_url_that_is_no_url_is_dropped() -> None:
    previous = {"ingressUrl": "javascript:alert(1)"}
    built = status.build(previous=previous, owner=("demo", "ns"), generation=1, conditions=[], deployment=None)
    assert "ingressUrl" not in built


def stored(manifest: dict[str, Any]) -> dict[str, Any]:
    """The Ingress as the API server keeps it: an ingress controller's annotation and status, a
    default IngressClass filled in by admission, the metadata the server adds."""
    live = copy.deepcopy(manifest)
    live["metadata"].update(uid="u", resourceVersion="42", generation=1, creationTimestamp="2026-01-01T00:00:00Z")
    live["metadata"].setdefault("annotations", {})["ingress.example/last-sync"] = "now"
    live["spec"].setdefault("ingressClassName", "default-class")
    live["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
    return live


def test_the_stored_ingress_with_server_and_controller_fields_is_no_drift_and_an_edit_of_ours_is() -> None:
    asked = {"enabled": True, "host": HOST, "annotations": {"a.example/x": "1"}, "tls": {"secretName": "t"}}
    manifest = drift.stamped(ingress_of(resource(ingress=asked)) or {})
    live = stored(manifest)
    assert not drift.drifted(live, manifest)

    for edit in (
        lambda body: body["spec"]["rules"][0].update(host="other.example.com"),
        lambda body: body["spec"]["rules"][0]["http"]["paths"][0].update(path="/other"),
        lambda body: body["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"].update(name="x"),
        lambda body: body["spec"].pop("tls"),
        lambda body: body["metadata"]["annotations"].update({"a.example/x": "2"}),
    ):
        edited = copy.deepcopy(live)
        edit(edited)
        assert drift.drifted(edited, manifest)
