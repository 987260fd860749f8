"""A party that cannot be reached is ``Unavailable`` (exit 5) to every HTTP client, and the message names neither
the peer's address nor anything the request carried."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from sekisho.errors import Unavailable
from sekisho.node.http.agency import HttpAgency
from sekisho.node.http.transfer import HttpTransferSource
from sekisho.node.http.watchdog import HttpWatchdog

TOKEN = "212016-" + "ab" * 16


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.fixture
def client() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(_down), base_url="http://10.1.2.3:8443")


def test_every_client_reports_an_unreachable_party_as_unavailable(client: httpx.Client) -> None:
    calls = [
        lambda: HttpAgency(client).requested_items("pension.benefit"),
        lambda: HttpTransferSource(client).fetch_transfer(TOKEN, requester="131016"),
        lambda: HttpTransferSource(client).complete_transfer(
            TOKEN, requester="131016", moved_on=date(2026, 11, 20), destination_line="東京都千代田区"
        ),
        lambda: HttpWatchdog(client).approved_pia("pension"),
    ]
    for call in calls:
        with pytest.raises(Unavailable) as exc:
            call()
        assert exc.value.exit_code == 5
        assert "10.1.2.3" not in str(exc.value) and TOKEN not in str(exc.value)
