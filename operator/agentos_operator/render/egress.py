"""Where the runtime pods may connect when ``networkPolicy.restrictEgress`` is on.

DNS (port 53 anywhere: the cluster's resolver may be a node-local cache), every declared MCP
server reached over HTTP, every model and embedder ``baseUrl`` (OpenAI's when one names none)
and every knowledge source URL, then the user's own ``egress`` rules (databases, whose URLs are in Secrets the render does not read
for this). A NetworkPolicy cannot name a host, so each URL becomes the narrowest peer its host
allows: an in-cluster Service name (``svc``, ``svc.ns``, ``svc.ns.svc[.cluster.local]``)
becomes its namespace (this one for a bare name) on the URL's port; an IP address becomes that
address; any other host becomes the URL's port anywhere. Sidecars are on localhost, which no
NetworkPolicy filters.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from agentos_operator.resources import AgentOSResource

OPENAI_URL = "https://api.openai.com/v1"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")
DNS_RULE: dict[str, Any] = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def egress_rules(resource: AgentOSResource) -> list[dict[str, Any]]:
    """The egress rules of the runtime's NetworkPolicy, without duplicates, in a stable order."""
    spec = resource.spec
    urls = [server.url for server in spec.mcp_servers if server.sidecar is None and server.url is not None]
    urls += [model.base_url or OPENAI_URL for model in spec.models]
    for base in spec.knowledge_bases:
        urls.append(base.embedder.base_url or OPENAI_URL)
        urls += [source.url for source in base.sources if source.url is not None]
    rules: list[dict[str, Any]] = [DNS_RULE]
    for url in urls:
        rule = url_rule(url, resource.namespace)
        if rule not in rules:
            rules.append(rule)
    network_policy = spec.network_policy
    rules.extend(network_policy.egress or [] if network_policy is not None else [])
    return rules


def url_rule(url: str, namespace: str) -> dict[str, Any]:
    """The egress rule letting the pods reach ``url`` from ``namespace``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ports = [{"port": port, "protocol": "TCP"}]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return {"to": [{"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}}], "ports": ports}
    service_namespace = _service_namespace(host, namespace)
    if service_namespace is None:
        return {"ports": ports}
    return {"to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: service_namespace}}}], "ports": ports}


def _service_namespace(host: str, namespace: str) -> str | None:
    """The namespace of an in-cluster Service name, else ``None``."""
    for suffix in CLUSTER_SUFFIXES:
        if host.endswith(suffix):
            labels = host[: -len(suffix)].split(".")
            return labels[1] if len(labels) == 2 else None
    labels = host.split(".")
    if len(labels) == 1:
        return namespace
    return None
