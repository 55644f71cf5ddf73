"""End-to-end: v6 URLs the walk used to mistranslate, through the running proxy against the recording v7 upstream.

Each test checks the v7 request the upstream received (``env.last``) and what the v6 client got.
"""

from __future__ import annotations

from fixtures.engine.upstream import Reply
from test_v6_e2e import env  # noqa: F401  (the proxy + recording upstream fixture)


# ------------------------------------------------------------------------------------------ separators
async def test_a_replaced_operand_keeps_a_valid_separator(env):  # noqa: F811
    """Clients may write `(a)and(b)`: a literal put in place of `(b)` must not make `andfalse`, which the
    server reads as a name and rejects."""
    for v6, v7 in [
        ("(device_name eq 'a')and(is_managed_by__device eq 1)", "(device_name eq 'a') and false"),
        ("device_name eq 'a'or(logs_channel eq 'x')", "device_name eq 'a' or false"),
    ]:
        env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
        status, body = await env.json("GET", f"/v6/device?$select=id&$filter={v6}")
        assert (status, body) == (200, {"d": [{"id": 1}]})
        assert env.last == f"/v7/device?$select=id&$filter={v7}"
