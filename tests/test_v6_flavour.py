"""upstream_flavour = "auto" (the default) in front of an open-balena API on loopback answers as open-balena."""

from __future__ import annotations

import aiohttp
from conftest import free_port

from balena_v7_simulator import create_simulator_app
from balena_v7_simulator.fixtures import ADMIN_TOKEN

PATH = "/v6/device?$select=id,should_be_managed_by__supervisor_release&$orderby=id asc"


async def read(url: str) -> object:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        async with client.get(url + PATH) as response:
            assert response.status == 200
            return await response.json()


async def test_auto_reads_open_balena_as_open_balena(serve_app, start_proxy):
    upstream = await serve_app(create_simulator_app(flavour="open-balena"))
    auto = await start_proxy(upstream)
    pinned = await start_proxy(upstream, upstream_flavour="open-balena")
    wrong = await start_proxy(upstream, upstream_flavour="balena-cloud")
    got = await read(auto.url)
    assert got == await read(pinned.url)
    assert got != await read(wrong.url)  # the old default: the managing release came back null


async def test_settings_event_names_the_flavour_chosen(spawn_cli):
    port = free_port()
    cli = await spawn_cli("serve", "--upstream", f"http://127.0.0.1:{free_port()}", "--port", str(port))
    [settings] = await cli.wait_event("settings")
    assert settings["upstream_flavour"] == "auto" and settings["upstream_flavour_chosen"] == "open-balena"
    assert settings["upstream_flavour_reason"] == "auto: upstream host 127.0.0.1 is not a *.balena-cloud.com host"
    assert await cli.stop() == 0
