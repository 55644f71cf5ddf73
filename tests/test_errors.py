"""proxy.errors: the answers a client gets for failures, in the API's style and never with a secret."""

from __future__ import annotations

from proxy.errors import malformed_url_message


def test_malformed_url_message_masks_api_keys() -> None:
    assert (
        malformed_url_message("/v6/device?$filter=a%20eq&apikey=SECRET123")
        == "Malformed url: '/v6/device?$filter=a%20eq&apikey=***'"
    )
    assert "SECRET" not in malformed_url_message("/v6/device?apikey=SECRET&x=1")
