"""The request of `invoices averages`: options checked before any engine work."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from esteira.errors import ConfigError
from esteira.invoices.config import InvoicesSettings
from esteira.invoices.job import AveragesRequest

DEFAULTS = InvoicesSettings(reference="2020-01", windows=[3, 6])


def test_options_as_typed_become_a_request():
    request = AveragesRequest.parse(
        DEFAULTS, input="in.csv", out="o", reference="2019-07-01", windows=" 6, 3 ",
        fmt="delta", rejects="bad.csv",
    )
    assert request == AveragesRequest(
        "in.csv", Path("o"), date(2019, 7, 1), (6, 3), "delta", Path("bad.csv")
    )


def test_missing_options_take_the_settings_values():
    request = AveragesRequest.parse(DEFAULTS, input="in.csv", out="o.csv")
    assert (request.reference, request.windows, request.fmt, request.rejects) == (
        date(2020, 1, 1), (3, 6), "csv", None
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("reference", "2020-13"),
        ("reference", "jan/2020"),
        ("windows", "3,x"),
        ("windows", "0"),
        ("windows", "3,3"),
        ("windows", ","),
        ("fmt", "xlsx"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(option, value):
    flag = "--format" if option == "fmt" else f"--{option}"
    with pytest.raises(ConfigError, match=flag):
        AveragesRequest.parse(DEFAULTS, input="in.csv", out="o.csv", **{option: value})
