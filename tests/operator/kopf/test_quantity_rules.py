"""Pure rules of quantities: written the way the API server stores them, so a stored child matches its manifest."""

from __future__ import annotations

import pytest
from agentos_operator.quantities import QuantityError, canonical_quantity, canonical_resource_quantity

# (as written, as the API server stores it): pairs the API server's own quantity tests document.
STORED_AS = [
    ("0.5", "500m"),
    ("1.5", "1500m"),
    ("0.1", "100m"),
    ("1.08", "1080m"),
    ("1000m", "1"),
    ("1500m", "1500m"),
    ("100m", "100m"),
    ("1", "1"),
    ("10.0", "10"),
    ("5.", "5"),
    (".5", "500m"),
    ("2000", "2k"),
    ("1000M", "1G"),
    ("0.001T", "1G"),
    ("1080000000n", "1080m"),
    ("128974848", "128974848"),
    ("129M", "129M"),
    ("1.01E", "1010P"),
    ("1E", "1E"),
    ("1000E", "1e21"),
    ("128Mi", "128Mi"),
    ("1024Mi", "1Gi"),
    ("307200Ki", "300Mi"),
    ("0.5Gi", "512Mi"),
    ("1.5Gi", "1536Mi"),
    ("1Ki", "1Ki"),
    ("1000Ki", "1000Ki"),
    ("0.5Ki", "512"),
    ("1.1Ki", "1126400m"),
    (".001Ki", "1024m"),
    (".000001Ki", "1024u"),
    (".000000000001Ki", "2n"),
    ("8Ei", "9223372036854775807"),
    ("129e6", "129e6"),
    ("1E3", "1e3"),
    ("1.3E+6", "1300e3"),
    ("0.001e0", "1e-3"),
    ("1000e-12", "1e-9"),
    ("0.9n", "1n"),
    ("0.00000012345", "124n"),
    ("0", "0"),
    ("00", "0"),
    ("0Mi", "0"),
    ("0.0", "0"),
    ("-0.5", "-500m"),
    ("-1.5Gi", "-1536Mi"),
]


@pytest.mark.parametrize(("written", "stored"), STORED_AS)
def test_a_quantity_is_written_as_the_api_server_stores_it(written: str, stored: str) -> None:
    assert canonical_quantity(written) == stored


@pytest.mark.parametrize("stored", sorted({stored for _, stored in STORED_AS}))
def test_a_stored_quantity_is_already_canonical(stored: str) -> None:
    assert canonical_quantity(stored) == stored


@pytest.mark.parametrize("text", ["", ".", "aoeu", "Mi", "1.1.M", "1+1.0M", "0.1mi", "1i", "-3.01e-", " 1", "1 "])
def test_text_that_is_no_quantity_is_refused(text: str) -> None:
    with pytest.raises(QuantityError, match="not a Kubernetes quantity"):
        canonical_quantity(text)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("0.0001", "1m"),
        ("0.000000001m", "1m"),
        ("100u", "1m"),
        ("1.5m", "2m"),
        ("0.0001Gi", "107374183m"),
        ("0.5", "500m"),
        ("1Gi", "1Gi"),
        ("0", "0"),
    ],
)
def test_a_resource_lists_amount_is_rounded_up_to_a_milli_unit_as_the_api_server_stores_it(
    written: str, stored: str
) -> None:
    # What a 1.37 API server stored for each (seen by a probe): a finer amount made the operator
    # re-apply its Deployment or claim every ten seconds, forever.
    assert canonical_resource_quantity(written) == stored
