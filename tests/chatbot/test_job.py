"""The request of `chatbot answers`: options checked before any engine work."""

from __future__ import annotations

from pathlib import Path

import pytest

from esteira.chatbot.job import AnswersRequest
from esteira.errors import ConfigError


def test_options_as_typed_become_a_request():
    request = AnswersRequest.parse(
        input="lake", out="out", hours="14, 13,14", dates="2019-12-16, 2019-12-17"
    )
    assert request == AnswersRequest(
        Path("lake"), Path("out"), (13, 14), ("2019-12-16", "2019-12-17")
    )
    assert request.rejects_file == Path("out") / "rejects.csv"


def test_no_hours_or_dates_mean_all_of_them_and_rejects_can_go_elsewhere():
    request = AnswersRequest.parse(input="lake", out="out", hours="", rejects="bad.csv")
    assert (request.hours, request.dates, request.rejects_file) == ((), (), Path("bad.csv"))


@pytest.mark.parametrize("hours", ["13,x", "24", "-1", ","])
def test_bad_hours_are_config_errors(hours):
    with pytest.raises(ConfigError, match="--hours"):
        AnswersRequest.parse(input="lake", out="out", hours=hours)
