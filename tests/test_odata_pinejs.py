"""pinejs's parameter-alias step (odata-dialect.md §5.4, proxy/odata/pinejs.py): a URL defining an alias
is read from a second decoding of its whole query, by the proxy exactly as by the server (the node oracle
runs pinejs's own code for that step), and what the proxy writes back is read by the server as the proxy's
tree; end to end through the proxy against the simulator."""

from __future__ import annotations

import json

import aiohttp
import pytest
import yarl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odata_server_tree import resolve_binds, to_server_tree

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair
from proxy.odata import Literal, ODataSyntaxError, parse_target
from proxy.odata.pinejs import form_pairs, split_aliases


def _text_of(url: str, name: str = "@n") -> str:
    option = parse_target(url).query.get(name)  # type: ignore[union-attr]
    assert option is not None
    value = option.value
    assert isinstance(value, Literal)
    return value.value


def test_without_an_alias_the_raw_text_is_parsed():
    assert split_aliases("/device?$filter=a eq 'a b'") is None
    assert split_aliases("/device(@id)") is None  # no query
    assert split_aliases("/device?$filter=a eq '(@x'") is None  # the hint, but no `@` entry


def test_the_whole_query_is_decoded_once_more():
    main, aliases = split_aliases("/device?$filter=a%20eq%20'x%2520y'%20and%20b+eq+@n&@n='a%20b'") or ("", "")
    assert main == "/device?$filter=a+eq+'x%20y'+and+b+eq+@n"
    assert aliases == "@n='a+b'"


@pytest.mark.parametrize(
    "value, text",
    [
        ("'a%20b'", "a+b"),  # a space comes back as `+`, which a quoted string keeps
        ("'a+b'", "a+b"),
        ("'a%2Bb'", "a+b"),
        ("'50%2525'", "50%"),
        ("'%E9'", "\ufffd"),  # a lone Latin-1 byte is U+FFFD, not a bad escape
        ("'%C3%A9'", "é"),
        ("'x%26y'", "x&y"),
        ("%27it%27%27s%27", "it's"),
    ],
)
def test_alias_values_read_as_the_server_reads_them(value, text):
    assert _text_of("/device?$filter=device_name eq @n&@n=" + value) == text


@pytest.mark.parametrize(
    "url",
    [
        "/device?$filter=device_name eq @n&@n='50%25'",  # `%25` → `%`: a bad escape for the parser
        "/device?$filter=device_name eq 'a%25b' and id eq @i&@i=1",  # the main query too
        "/device?$filter=id eq 1%26x and id eq @i&@i=1",  # `%26` is a separator now
    ],
)
def test_the_second_decoding_can_make_a_url_malformed(url):
    with pytest.raises(ODataSyntaxError):
        parse_target(url)


def test_form_reading_follows_urlsearchparams():
    assert form_pairs("?a=1&&b&=c&d=e=f&%24g=%2") == [("a", "1"), ("b", ""), ("", "c"), ("d", "e=f"), ("$g", "%2")]
    # Node's: a piece without a valid escape is kept as it is; where decodeURIComponent throws, each other
    # character counts as its low byte (a raw é next to a bad escape is U+FFFD too)
    assert form_pairs("a=é%&b=%41é&c=%E9é&d=+%zz") == [("a", "é%"), ("b", "Aé"), ("c", "\ufffd\ufffd"), ("d", " %zz")]


ALIAS_VALUES = [
    "1",
    "-2.5",
    "true",
    "datetime'2024-01-01'",
    "'abc'",
    "%27x%27",
    "'a%20b'",
    "'a+b'",
    "'a%2Bb'",
    "'a%2520b'",
    "'50%25'",
    "'50%2525'",
    "'%E9'",
    "'%C3%A9'",
    "'%F0%9F%98'",
    "'%ED%A0%80'",
    "'x%26y'",
    "'x%26@m=2'",
    "'x%26$top=2'",
    "1%26@m=2",
    "1%26$select=b",
    "'%23'",
    "'%3D'",
    "'it%27%27s'",
    "'a%2527b'",
    "'%'",
    "'é%E9'",
    "'%E9é'",
    "'%41é'",
    "'😀%E9'",
    "'%zzé'",
    "'€%C3'",
    "'é+%20'",
]
MAIN_PIECES = [
    "$filter=a eq @n",
    "$filter=a%20eq%20@n",
    "$filter=a+eq+@n",
    "$filter=a eq 'x%20y' and b eq @n",
    "$filter=a eq 'x+y' or b eq @m",
    "$filter=a eq 'x%2520y'",
    "$filter=a eq 'x%26y'",
    "$filter=a eq 'x%25'",
    "$filter=a eq 'x%2525'",
    "$filter=a in (@n,@m)",
    "%24filter=a eq @n",
    "$select=a,b",
    "$select=a%2Cb",
    "$orderby=a%20desc",
    "$top=1",
    "$expand=b($filter=c eq @n;$select=d)",
    "$expand=b(@x=1;$filter=c eq @x)",
    "foo=a%20b",
    "x=%E9",
    "x=é%E9",
    "$filter=a eq 'é%E9' and b eq @n",
    "k",
    "",
]


@st.composite
def alias_url(draw) -> str:
    path = draw(st.sampled_from(["/device", "/device(@n)", "/device(1)/b", "/device(k=@m)"]))
    parts = draw(st.lists(st.sampled_from(MAIN_PIECES), max_size=3))
    names = draw(st.lists(st.sampled_from(["@n", "@m", "%40m", "@n"]), min_size=1, max_size=2))
    parts += [name + "=" + draw(st.sampled_from(ALIAS_VALUES)) for name in names]
    parts = draw(st.permutations(parts))
    return path + "?" + "&".join(parts)


@pytest.mark.slow  # property test: 600 generated URLs through the real parser
@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(url=alias_url())
def test_alias_urls_parse_as_the_server_parses_them(odata_oracle, url: str) -> None:
    verdict = odata_oracle.parse(url)
    try:
        tree = parse_target(url)
    except ODataSyntaxError:
        assert not verdict["accepted"], f"we reject what the server accepts: {url!r}"
        return
    assert verdict["accepted"], f"we accept what the server rejects ({verdict.get('error')}): {url!r}"
    expected = resolve_binds(verdict["parse"])
    assert resolve_binds(to_server_tree(tree)) == expected, url
    text = tree.serialize()
    again = odata_oracle.parse(text)
    assert again["accepted"], (url, text, again.get("error"))
    assert resolve_binds(again["parse"]) == expected, (url, text)


# ------------------------------------------------------------------------ end to end, proxy → simulator


@pytest.fixture
async def pair():
    async with running_pair(flavour="open-balena") as p:
        yield p


async def call(base: str, method: str, path: str, body=None):
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as s:
        async with s.request(method, yarl.URL(base + path, encoded=True), json=body) as resp:
            data = await resp.read()
            return resp.status, (json.loads(data) if data else None)


async def test_alias_urls_through_the_proxy(pair):
    status, body = await call(pair.proxy_url, "GET", "/v6/device?$select=id&$orderby=id%20asc&$top=3")
    assert status == 200 and len(body["d"]) == 3, body
    ids = [r["id"] for r in body["d"]]
    for i, name in zip(ids, ["a b", "a+b", "x&y"], strict=True):
        status, _ = await call(pair.proxy_url, "PATCH", f"/v6/device({i})", {"device_name": name})
        assert status == 200

    async def names(query: str) -> tuple[int, list[str] | None]:
        status, body = await call(pair.proxy_url, "GET", "/v6/device?$select=device_name&" + query)
        return status, ([r["device_name"] for r in body["d"]] if status == 200 else body)

    # without an alias the literal is read as written; with one, the space comes back as `+`
    assert await names("$filter=device_name%20eq%20'a%20b'") == (200, ["a b"])
    assert await names("$filter=device_name%20eq%20@n&@n='a%20b'") == (200, ["a+b"])
    assert await names("$filter=device_name%20eq%20'a%20b'%20and%20id%20gt%20@i&@i=0") == (200, ["a+b"])
    assert await names("$filter=device_name%20eq%20@n&@n='x%26y'") == (200, ["x&y"])
    assert await names("$filter=device_name%20eq%20@n&@n='a%2Bb'") == (200, ["a+b"])
    # `%25` decoded twice is a bad escape: the server's 500, the proxy's 400 Malformed url (decision 9)
    status, body = await names("$filter=device_name%20eq%20@n&@n='50%25'")
    assert status == 400 and body.startswith("Malformed url: '/v6/device?"), body
    # an alias in the key of the path, and one that is defined but not used
    status, body = await call(pair.proxy_url, "GET", f"/v6/device(@d)?$select=device_name&@d={ids[2]}")
    assert (status, body["d"]) == (200, [{"device_name": "x&y"}])
    assert await names("$filter=device_name%20eq%20'x%26y'&@unused=1") == (200, ["x&y"])
