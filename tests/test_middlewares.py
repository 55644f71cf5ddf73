"""The request middleware with a request aiohttp's router refuses itself (``OPTIONS *``: no route matches).

aiohttp raises that as an ``HTTPException``; the middleware raises it on (returning one is deprecated), and the
answer still carries the request id and gets its access event.
"""

from __future__ import annotations

import warnings

from conftest import raw_request

from proxy.headers import REQUEST_ID_HEADER


async def test_a_request_no_route_takes_is_404_with_the_request_id_and_logged(start_proxy, log_output):
    proxy = await start_proxy("http://127.0.0.1:9")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answer = await raw_request(
            proxy.url,
            f"OPTIONS * HTTP/1.1\r\nHost: x\r\n{REQUEST_ID_HEADER}: rid-404\r\nConnection: close\r\n\r\n".encode(),
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert f"{REQUEST_ID_HEADER}: rid-404".lower().encode() in head.lower()
    assert body == b"404: Not Found"
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []
    [event] = log_output.events("request")
    assert (event["request_id"], event["status"], event["path"]) == ("rid-404", 404, "*")
