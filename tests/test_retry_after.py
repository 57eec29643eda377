"""How long a throttled answer asks us to wait, in each form the service or a proxy may use."""

from __future__ import annotations

import time
from email.utils import formatdate
from types import SimpleNamespace

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError

from otel_modeldata.destinations.retrying import Retrier, Stopped, retry_after


def throttled(**headers: str) -> HttpResponseError:
    response = SimpleNamespace(status_code=503, reason="Server Busy", headers=headers)
    return HttpResponseError(message="throttled", response=response)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"x-ms-retry-after-ms": "250"}, 0.25),
        ({"retry-after": "soon"}, 0.0),
        ({"retry-after": "-3"}, 0.0),
        ({}, 0.0),
    ],
)
def test_retry_after_reads_seconds_and_milliseconds(headers: dict[str, str], seconds: float) -> None:
    assert retry_after(throttled(**headers)) == seconds


def test_retry_after_reads_an_http_date() -> None:
    assert 8 < retry_after(throttled(**{"retry-after": formatdate(time.time() + 10, usegmt=True)})) <= 10


def test_an_error_without_a_response_asks_for_no_wait() -> None:
    assert retry_after(ServiceRequestError("connection refused")) == 0.0


def test_a_retry_after_past_the_deadline_gives_up_without_waiting() -> None:
    started = time.monotonic()
    with pytest.raises(Stopped):
        Retrier().backoff("blob", throttled(**{"retry-after": "30"}), 1, started + 5)
    assert time.monotonic() - started < 1
