"""A URL Python cannot parse (an unbracketable host) is a one-line ServerError, never a crash."""

from __future__ import annotations

import pytest

from sonicmap.errors import ServerError
from sonicmap.remote import http


@pytest.mark.parametrize("url", ["http://[0]/jsonrpc.js", "http://[4.3bB0]/rest/ping.view"])
def test_an_unparsable_host_is_a_server_error(url: str) -> None:
    with pytest.raises(ServerError) as err:
        http.request("lms", "POST", url, json_body={}, timeout=1)
    assert str(err.value) == (
        "server 'lms': cannot send the request (a URL, user name or secret HTTP cannot carry)"
    )
