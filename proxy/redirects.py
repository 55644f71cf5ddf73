"""``Location``/``Content-Location`` from the upstream, as a client of the proxy must see them.

The upstream names itself in redirects and created resources (``Location: https://<API host>/v7/...``); a
client that followed that would leave the proxy (and, for a translated request, land on v7). Like nginx's
``proxy_redirect default``, a URL on the upstream's origin becomes an origin-relative path on the proxy, with
the upstream's base path taken off. One redirect cannot be repaired: the same path with only the scheme
changed to https. The balena API answers that to a request carrying ``X-Forwarded-For`` without
``X-Forwarded-Proto: https``; followed through the proxy it would loop, so it is answered with a 502 that
names the setting to look at (``forwarded_headers``).
"""

from __future__ import annotations

import yarl
from multidict import CIMultiDict

LOCATION_HEADERS = ("Location", "Content-Location")
HTTPS_LOOP_MESSAGE = (
    "Upstream redirects to https on the same path (a redirect loop through the proxy): the API redirects "
    "requests that carry X-Forwarded-For unless X-Forwarded-Proto is https; check the forwarded_headers "
    "setting and the X-Forwarded-* headers in front of the proxy"
)


def _parse(value: str) -> yarl.URL | None:
    try:
        return yarl.URL(value, encoded=True)
    except (ValueError, TypeError):
        return None


def origin_relative(value: str, origin: yarl.URL, base_path: str) -> str:
    """``value`` as a path on the proxy when it points at the upstream's ``origin`` (or is a path under its
    ``base_path``); any other URL is returned unchanged."""
    url = _parse(value)
    if url is None:
        return value
    if url.is_absolute():
        if url.origin() != origin:
            return value
        start = value.find("://") + 3
        ends = [i for i in (value.find(c, start) for c in "/?#") if i >= 0]
        rest = value[min(ends) :] if ends else "/"  # the raw text after the authority, byte-exact
        if not rest.startswith("/"):
            rest = "/" + rest
    elif value.startswith("/"):
        rest = value
    else:
        return value  # relative to the request ("foo(1)"): the client resolves it against the proxy already
    if base_path and (rest == base_path or rest.startswith(base_path + "/") or rest.startswith(base_path + "?")):
        rest = rest[len(base_path) :] or "/"
    return rest


def is_https_loop(status: int, value: str | None, sent: yarl.URL) -> bool:
    """A redirect to the very URL just requested (``sent``, plain http) with only the scheme changed to https."""
    if not value or not 300 <= status < 400 or sent.scheme != "http":
        return False
    url = _parse(value)
    return url is not None and url.scheme == "https" and url.raw_path_qs == sent.raw_path_qs


def rewrite_locations(headers: CIMultiDict[str], origin: yarl.URL, base_path: str) -> None:
    """Apply :func:`origin_relative` to ``Location`` and ``Content-Location`` in place."""
    for name in LOCATION_HEADERS:
        value = headers.get(name)
        if value:
            headers[name] = origin_relative(value, origin, base_path)


def fix_locations(status: int, headers: CIMultiDict[str], base_url: str, base_path: str, sent_path_qs: str) -> bool:
    """Make the ``Location`` headers of an upstream answer point at the proxy; False when the answer is the
    https redirect loop (answer :data:`HTTPS_LOOP_MESSAGE` with a 502 instead). ``sent_path_qs`` is the raw
    target the proxy sent (without the base path)."""
    if "Location" not in headers and "Content-Location" not in headers:
        return True  # the common case costs two look-ups
    origin = yarl.URL(base_url)
    sent = yarl.URL(base_url + base_path + sent_path_qs, encoded=True)
    if is_https_loop(status, headers.get("Location"), sent):
        return False
    rewrite_locations(headers, origin.origin(), base_path)
    return True
