"""Kubernetes quantities in the canonical form the API server stores them in.

Pure. The API server re-serialises every quantity it stores: ``0.5`` CPU comes back as
``500m``, ``1024Mi`` as ``1Gi``, ``0.5Gi`` as ``512Mi``. A manifest that keeps the user's
spelling would never match the stored object, and the operator would re-apply it on every
resync. Render writes quantities in canonical form, so desired and stored compare equal.

The rules are those of ``k8s.io/apimachinery/pkg/api/resource``: the value is kept exactly
(rounded up to a whole nano unit), then written with the largest suffix of its family that
leaves an integer: decimal (``n u m "" k M G T P E``, powers of 1000) for plain numbers and
decimal suffixes, binary (``Ki Mi Gi Ti Pi Ei``, powers of 1024) for binary suffixes unless the
value is under 1Ki or not a whole number, which falls back to decimal. Exponent notation keeps
``e<n>`` suffixes. Zero is ``0``.

Resource lists (a container's requests and limits, a claim's storage request) are rounded up
further, to a whole milli unit, as the API server's defaulting does to them (``0.0001`` CPU is
stored as ``1m``): ``canonical_resource_quantity``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from agentos_operator.errors import OperatorError

_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_SUFFIX = {power // 10: suffix for suffix, power in _BINARY.items()}
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)
# Values are kept to the nano (10^-9); a finer non-zero value rounds away from zero.
_NANOS = 10**9
_MILLI_NANOS = 10**6
# The API server caps binary quantities, silently, at the largest int64.
_MAX_BINARY = 2**63 - 1


class QuantityError(OperatorError):
    """Text that is not a Kubernetes quantity."""


def canonical_resource_quantity(text: str) -> str:
    """``text`` as the API server stores it in a resource list: rounded up to a whole milli unit."""
    return canonical_quantity(text, unit_nanos=_MILLI_NANOS)


def canonical_quantity(text: str, *, unit_nanos: int = 1) -> str:
    """``text`` as the API server would store it, rounded up to whole ``unit_nanos``; raises
    ``QuantityError`` when it is no quantity."""
    match = _QUANTITY.fullmatch(text)
    if match is None or not (match["whole"] or match["fraction"]):
        raise QuantityError(f"not a Kubernetes quantity: {text!r}")
    digits = match["fraction"] or ""
    value = Fraction(int((match["whole"] or "0") + digits), 10 ** len(digits))
    suffix = match["suffix"] or ""
    style = "binary" if suffix in _BINARY else "decimal" if suffix in _DECIMAL else "exponent"
    if style == "binary":
        value *= 2 ** _BINARY[suffix]
    else:
        value *= Fraction(10) ** (int(suffix[1:]) if style == "exponent" else _DECIMAL[suffix])
    # value >= 0: rounding up is rounding away from zero
    nanos = math.ceil(value * _NANOS / unit_nanos) * unit_nanos
    if style == "binary":
        nanos = min(nanos, _MAX_BINARY * _NANOS)
    if nanos == 0:
        return "0"
    sign = "-" if match["sign"] == "-" else ""
    if style == "binary" and nanos >= 1024 * _NANOS and nanos % _NANOS == 0:
        return sign + _binary(nanos // _NANOS)
    return sign + _decimal(nanos, exponent_style=style == "exponent")


def _binary(amount: int) -> str:
    power = 0
    while amount % 1024 == 0 and power < max(_BINARY_SUFFIX):
        amount //= 1024
        power += 1
    return f"{amount}{_BINARY_SUFFIX.get(power, '')}"


def _decimal(nanos: int, *, exponent_style: bool) -> str:
    """Integer mantissa, exponent a multiple of 3 and as large as possible, then its suffix."""
    mantissa, exponent = nanos, -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3  # Python's modulo floors: the exponent goes down to a multiple of 3
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    if exponent_style:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    suffix = _DECIMAL_SUFFIX.get(exponent)
    return f"{mantissa}{suffix}" if suffix is not None else f"{mantissa}e{exponent}"
