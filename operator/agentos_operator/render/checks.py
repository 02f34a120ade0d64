"""What the API server would refuse of the rendered children, found offline, each at the spec field to change.

Pure. A spec can pass every schema and CEL rule and still render a child the API server
refuses. The running operator asks the API server itself (a server-side dry run of every
child before the first write); ``agentos validate`` and ``agentos render`` run these checks, its
offline twin, over the manifests render produces, so the refusal shows up before a cluster is
involved. Each mirrors one rule of Kubernetes' own:

- a container's resource request above its limit (pod validation), quantities compared by value,
  so ``1Gi`` is above ``1000Mi``;
- a NetworkPolicy ``ipBlock`` whose ``cidr`` (or an ``except`` entry) is no CIDR, or whose
  ``except`` entry is not a smaller range inside its ``cidr`` (NetworkPolicy validation);
- a variable named twice in one container's ``env``, or two ports on one number or name:
  server-side apply, which the operator writes with, merges those lists by that key and refuses
  a list where a key repeats (and a port name must be unique anyway);
- a ConfigMap holding more than 1 MiB (its keys and values together);
- a ``nodeSelector`` or ``podLabels`` key that is no label key, or a value that is no label value
  (the rules of labels: ``labels.label_key_problem``, ``labels.label_value_problem``), and a ``podAnnotations``,
  ``service.annotations`` or ``ingress.annotations`` key that is no annotation key (the rules of a
  label's key);
- a ``prometheus.podMonitor.labels`` key that is no label key, or a value that is no label value;
- a ``service.loadBalancerSourceRanges`` entry that is no CIDR (Service validation);
- the Kubernetes objects a spec hands on as given (tolerations, topology spread, affinity, env
  sources, NetworkPolicy peers and egress rules): ``passthrough``.

Problems are ``agentos_runtime.config.Problem`` with a path in the resource, as ``agentos
validate`` prints every other problem.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import yaml
from agentos_runtime.config import Problem
from pydantic.alias_generators import to_camel

from agentos_operator.render import layout
from agentos_operator.render.labels import label_key_problem, label_value_problem
from agentos_operator.render.passthrough import passthrough_problems
from agentos_operator.resources import AgentOSResource
from agentos_operator.spec import RuntimeMetrics

# The API server's limit on a ConfigMap's data (and a Secret's): keys and values, in bytes.
CONFIG_MAP_MAX_BYTES = 1024 * 1024
# The most a Deployment may take as rendered: etcd stores an object with the server's field
# bookkeeping (managedFields, which repeat the keys of list items, such as each variable's
# name) and refuses one past its request limit (1.5 MiB by default), a refusal no dry run sees.
DEPLOYMENT_MAX_BYTES = 512 * 1024
# The resource's fields that end up in the Deployment, in the order they are named.
_DEPLOYMENT_FIELDS = (
    "env",
    "envFrom",
    "mcpServers",
    "knowledgeBases",
    "podAnnotations",
    "podLabels",
    "nodeSelector",
    "tolerations",
    "affinity",
    "topologySpreadConstraints",
)
DEFAULT_METRICS_PORT: int = RuntimeMetrics.model_fields["port"].default

_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_POWERS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)
# An address and a prefix length, as Go's net.ParseCIDR needs (no bare address, no netmask).
_CIDR_FORM = re.compile(r"[0-9A-Fa-f:.]+/[0-9]{1,3}")

# Only to measure an over-size config, which is render's own output: libyaml's parser where present.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FAST_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

Path = tuple[str | int, ...]


def check_manifests(resource: AgentOSResource, manifests: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Every problem the API server would find in ``manifests`` (render's output for ``resource``)."""
    problems: list[Problem] = list(passthrough_problems(resource))
    for manifest in manifests:
        kind = manifest.get("kind")
        if kind == "Deployment":
            problems.extend(_deployment_size_problems(resource, manifest))
            problems.extend(_label_problems(("spec", "nodeSelector"), resource.spec.node_selector or {}))
            problems.extend(_label_problems(("spec", "podLabels"), resource.spec.pod_labels or {}))
            problems.extend(_annotation_problems(("spec", "podAnnotations"), resource.spec.pod_annotations or {}))
            for container in manifest["spec"]["template"]["spec"]["containers"]:
                problems.extend(_resource_problems(resource, container))
                problems.extend(_env_problems(resource, container))
                problems.extend(_port_problems(container))
        elif kind == "Service":
            problems.extend(_service_problems(resource))
        elif kind == "NetworkPolicy":
            problems.extend(_network_policy_problems(manifest))
        elif kind == "Ingress" and resource.spec.ingress is not None:
            annotations = resource.spec.ingress.annotations or {}
            problems.extend(_annotation_problems(("spec", "ingress", "annotations"), annotations))
        elif kind == "PodMonitor" and resource.spec.prometheus.pod_monitor is not None:
            labels = resource.spec.prometheus.pod_monitor.labels or {}
            problems.extend(_label_problems(("spec", "prometheus", "podMonitor", "labels"), labels))
        elif kind == "ConfigMap":
            problems.extend(_config_map_problems(manifest))
    return problems


def claim_change_problems(resource: AgentOSResource, live: Mapping[str, Any] | None) -> list[Problem]:
    """What the spec changed of the data claim that a claim once made cannot change: its class,
    and its size, which may only grow, and only where its StorageClass allows volume expansion.

    ``live``: the claim as it exists (None: made anew, nothing to compare). The API server's
    refusal names Go fields in a struct diff; these name the spec's field and both ways out.
    """
    if live is None or not resource.spec.uses_sqlite:
        return []
    persistence = resource.spec.persistence
    claim = f"PersistentVolumeClaim '{layout.data_claim_name(resource.name)}'"
    again = f"or delete {claim} (its data with it) to have it made again"
    spec = live.get("spec") or {}
    problems: list[Problem] = []
    held_size = str(((spec.get("resources") or {}).get("requests") or {}).get("storage") or "")
    size_changed = False
    if held_size:
        try:
            wanted, held = quantity_value(persistence.size), quantity_value(held_size)
        except ValueError:
            wanted = held = Fraction(0)
        size_changed = wanted != held
        if wanted < held:
            problems.append(
                Problem(
                    ("spec", "persistence", "size"),
                    f"a claim cannot shrink: {claim} requests {held_size}: put {held_size} back, {again}",
                )
            )
        elif wanted > held:
            problems.append(
                Problem(
                    ("spec", "persistence", "size"),
                    f"{claim} requests {held_size} and grows only once bound, and only where its StorageClass"
                    f" allows volume expansion: put {held_size} back, {again}",
                )
            )
    held_class = spec.get("storageClassName")
    wanted_class = persistence.storage_class_name
    # A class the spec no longer names is only left to the claim by the apply if someone else
    # set it (the cluster's default class): taken as the refusal's cause when nothing else is.
    if isinstance(held_class, str) and (
        (wanted_class is not None and wanted_class != held_class) or (wanted_class is None and not size_changed)
    ):
        problems.append(
            Problem(
                ("spec", "persistence", "storageClassName"),
                f"a claim's class cannot change once made: {claim} has '{held_class}': put '{held_class}' back, {again}",
            )
        )
    return problems


def claim_class_problems(resource: AgentOSResource, live: Mapping[str, Any] | None) -> list[Problem]:
    """A class the spec sets on a bound data claim made without one: the API server takes it
    (it lets a class be given to a claim with none, for the cluster's default class), and from
    then on it can never change back, although the volume is bound already and the class changes
    nothing. Refused before any write. A claim still waiting for a volume may be given one: that
    is how it finds a volume."""
    if live is None or not resource.spec.uses_sqlite or resource.spec.persistence.storage_class_name is None:
        return []
    spec, wanted = live.get("spec") or {}, resource.spec.persistence.storage_class_name
    if spec.get("storageClassName") is not None or not spec.get("volumeName"):
        return []
    claim = f"PersistentVolumeClaim '{layout.data_claim_name(resource.name)}'"
    return [
        Problem(
            ("spec", "persistence", "storageClassName"),
            f"{claim} was made without a class and is bound to volume '{spec['volumeName']}': a class set now"
            f" ('{wanted}') could never be taken back and changes nothing; remove storageClassName, or delete"
            f" {claim} (its data with it) to have it made again with class '{wanted}'",
        )
    ]


def _annotation_problems(field: Path, annotations: Mapping[str, str]) -> Iterator[Problem]:
    # An annotation's key follows the rules of a label's key; its value may be any text.
    for key in annotations:
        why = label_key_problem(key)
        if why:
            yield Problem((*field, key), why.replace("label key", "annotation key"))


def _service_problems(resource: AgentOSResource) -> Iterator[Problem]:
    service = resource.spec.service
    yield from _annotation_problems(("spec", "service", "annotations"), service.annotations or {})
    for index, text in enumerate(service.load_balancer_source_ranges or []):
        if _network(text) is None:
            yield Problem(("spec", "service", "loadBalancerSourceRanges", index), _not_a_cidr(text))


def _label_problems(field: Path, labels: Mapping[str, str]) -> Iterator[Problem]:
    for key, value in labels.items():
        why = label_key_problem(key) or label_value_problem(value)
        if why:
            yield Problem((*field, key), why)


def quantity_value(text: str) -> Fraction:
    """The exact value of a Kubernetes quantity (``250m`` is 1/4, ``1Ki`` is 1024); ValueError when it is none."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    value = Fraction(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY_POWERS:
        value *= 2 ** _BINARY_POWERS[suffix]
    elif suffix in _DECIMAL_EXPONENTS:
        value *= Fraction(10) ** _DECIMAL_EXPONENTS[suffix]
    else:
        value *= Fraction(10) ** int(suffix[1:])
    return -value if match["sign"] == "-" else value


def _resource_problems(resource: AgentOSResource, container: Mapping[str, Any]) -> Iterator[Problem]:
    amounts = container.get("resources") or {}
    requests, limits = amounts.get("requests") or {}, amounts.get("limits") or {}
    defaulted = "requests" not in resource.spec.resources.model_fields_set
    for name, request in sorted(requests.items()):
        limit = limits.get(name)
        if limit is None or quantity_value(str(request)) <= quantity_value(str(limit)):
            continue
        where = " (the default when spec.resources.requests is omitted)" if defaulted else ""
        yield Problem(
            ("spec", "resources", "requests", name),
            f"the request {request}{where} is above the limit {limit} (spec.resources.limits.{name}), which the"
            " API server refuses: lower the request or raise the limit",
        )


def _env_problems(resource: AgentOSResource, container: Mapping[str, Any]) -> Iterator[Problem]:
    names = [str(variable.get("name")) for variable in container.get("env") or []]
    declared = [variable.name for variable in resource.spec.env or []]
    for name in _repeated(names):
        at = [index for index, declared_name in enumerate(declared) if declared_name == name]
        if len(at) > 1:
            yield Problem(
                ("spec", "env", at[1], "name"),
                f"'{name}' is already set by spec.env[{at[0]}]: a container may name a variable once"
                " (server-side apply refuses the Deployment otherwise); remove one of them",
            )
        else:
            yield Problem(
                ("spec", "env", at[0], "name") if at else ("spec", "env"),
                f"'{name}' is also a variable the operator sets: a container may name a variable once"
                " (server-side apply refuses the Deployment otherwise); rename yours",
            )


def _port_problems(container: Mapping[str, Any]) -> Iterator[Problem]:
    ports = container.get("ports") or []
    numbers = [(port.get("containerPort"), port.get("protocol", "TCP")) for port in ports]
    for number, _ in _repeated(numbers):
        if number == layout.PORT:
            yield Problem(
                ("spec", "prometheus", "port"),
                f"{number} is the runtime's HTTP port: the metrics endpoint needs a port of its own"
                f" (server-side apply refuses two container ports on one number); choose another, e.g."
                f" the default {DEFAULT_METRICS_PORT}",
            )
        else:
            yield Problem(("spec",), f"container port {number} is rendered twice: choose different ports")
    for name in _repeated([port.get("name") for port in ports if port.get("name")]):
        yield Problem(("spec",), f"container port name '{name}' is rendered twice: choose different ports")


def _network_policy_problems(manifest: Mapping[str, Any]) -> Iterator[Problem]:
    # Render puts spec.networkPolicy.ingressFrom, as given, in the one ingress rule's `from`.
    for rule in manifest["spec"].get("ingress") or []:
        for index, peer in enumerate(rule.get("from") or []):
            if not isinstance(peer, Mapping) or "ipBlock" not in peer:
                continue
            at: Path = ("spec", "networkPolicy", "ingressFrom", index, "ipBlock")
            block = peer["ipBlock"]
            if not isinstance(block, Mapping):
                yield Problem(at, "must be a mapping: {cidr: 10.0.0.0/8, except: [...]}")
                continue
            yield from _ip_block_problems(block, at)


def _ip_block_problems(block: Mapping[str, Any], at: Path) -> Iterator[Problem]:
    cidr = block.get("cidr")
    if cidr in (None, ""):
        yield Problem((*at, "cidr"), "required field is missing: give a range such as 10.0.0.0/8")
        return
    network = _network(cidr)
    if network is None:
        yield Problem((*at, "cidr"), _not_a_cidr(cidr))
    exceptions = block.get("except") or []
    if not isinstance(exceptions, list):
        yield Problem((*at, "except"), "must be a list of ranges inside cidr, e.g. [10.0.1.0/24]")
        return
    for index, text in enumerate(exceptions):
        excluded = _network(text)
        if excluded is None:
            yield Problem((*at, "except", index), _not_a_cidr(text))
        elif network is not None and not _strict_subnet(excluded, network):
            yield Problem(
                (*at, "except", index),
                f"'{text}' is not a smaller range inside cidr '{cidr}', which the API server requires of"
                " each except entry: narrow it, or remove it",
            )


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(text: Any) -> Network | None:
    """The network ``text`` names, host bits allowed (as Go's ParseCIDR allows them); None when it is no CIDR."""
    if not isinstance(text, str) or not _CIDR_FORM.fullmatch(text):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _strict_subnet(inner: Network, outer: Network) -> bool:
    if inner.prefixlen <= outer.prefixlen:
        return False
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False  # one IPv4, one IPv6


def _not_a_cidr(text: Any) -> str:
    shown = repr(text) if len(repr(text)) <= 100 else repr(text)[:99] + "…"  # as label keys are shown
    return f"{shown} is not a CIDR: write an address and a prefix length, e.g. 10.0.0.0/8 or fd00::/64"


def _deployment_size_problems(resource: AgentOSResource, manifest: Mapping[str, Any]) -> Iterator[Problem]:
    size = len(json.dumps(manifest, separators=(",", ":"), ensure_ascii=False).encode())
    if size <= DEPLOYMENT_MAX_BYTES:
        return
    spec = resource.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    sizes = {name: len(json.dumps(spec[name]).encode()) for name in _DEPLOYMENT_FIELDS if spec.get(name)}
    largest = max(sizes, key=lambda name: sizes[name]) if sizes else ""
    yield Problem(
        ("spec", largest) if largest else ("spec",),
        f"the Deployment '{manifest['metadata']['name']}' would take {size} bytes, over the {DEPLOYMENT_MAX_BYTES}"
        " (512 KiB) it may take: etcd stores it with the server's field bookkeeping, 1.5 MiB at most"
        + (f"; this field is its largest part ({sizes[largest]} bytes)" if largest else "")
        + ": shorten it",
    )


def _config_map_problems(manifest: Mapping[str, Any]) -> Iterator[Problem]:
    data: Mapping[str, str] = manifest.get("data") or {}
    size = sum(len(key.encode()) + len(value.encode()) for key, value in data.items())
    if size <= CONFIG_MAP_MAX_BYTES:
        return
    name = manifest["metadata"]["name"]
    largest, largest_size = _largest_field(data.get(layout.CONFIG_KEY, ""))
    yield Problem(
        ("spec", to_camel(largest)) if largest else ("spec",),
        f"the rendered config (ConfigMap '{name}') takes {size} bytes, over the {CONFIG_MAP_MAX_BYTES} (1 MiB)"
        " the API server accepts in a ConfigMap"
        + (f"; this field is its largest part ({largest_size} bytes)" if largest else "")
        + ": shorten it, or split the server into several AgentOSConfigs",
    )


def _largest_field(config_text: str) -> tuple[str, int]:
    """The top-level field of the rendered config file that takes the most bytes, and how many."""
    config = yaml.load(config_text, Loader=_FAST_LOADER)  # render's own output: plain data, no aliases
    if not isinstance(config, dict) or not config:
        return "", 0
    sizes = {
        str(key): len(yaml.dump({key: value}, Dumper=_FAST_DUMPER, allow_unicode=True).encode())
        for key, value in config.items()
    }
    largest = max(sizes, key=lambda key: sizes[key])
    return largest, sizes[largest]


def _repeated(values: Sequence[Any]) -> list[Any]:
    """The values that occur more than once, in the order they first repeat."""
    seen: set[Any] = set()
    repeats: list[Any] = []
    for value in values:
        if value in seen and value not in repeats:
            repeats.append(value)
        seen.add(value)
    return repeats
