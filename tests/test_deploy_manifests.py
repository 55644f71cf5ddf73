"""deploy/: the Kubernetes manifests are valid against the Kubernetes schemas, and they, the Compose file and the
Prometheus configuration agree with the proxy's real settings, routes and image.

Schemas: ``kubernetes-validate`` ships them inside the package (offline), checked strictly (unknown fields are
errors). Settings: the ConfigMap's and Compose's TOML files are loaded with ``proxy.settings`` itself, and the
proxy is started with them on loopback to check that the probe paths are answered by the proxy, the readiness
one even while the upstream is down (an upstream blip must not empty the Service) and not once the proxy is
shutting down (Kubernetes stops sending it traffic before it stops accepting).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from aiohttp import web
from conftest import free_port

from proxy.app import HEALTHZ, READYZ, UPSTREAM_READYZ, ProxyRunner, create_app
from proxy.settings import ENV_PREFIX, FIELDS, Settings, env_var, load_settings

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "deploy" / "compose.yaml"
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())  # oldest supported, newest shipped
NOT_SETTINGS = {"PROXY_CONFIG"}  # the config file path: a PROXY_ variable that is not a setting


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object in deploy/kubernetes, by kind."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                assert doc["kind"] not in found, f"two {doc['kind']} objects"
                found[doc["kind"]] = doc
    return found


def container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def configmap_toml(objects: dict[str, dict[str, Any]], tmp_path: Path) -> tuple[Path, str]:
    """The ConfigMap's settings file written out, and the path the container reads it from."""
    args = container(objects)["args"]
    config_path = args[args.index("--config") + 1]
    mount_dir, key = config_path.rsplit("/", 1)
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    mount = next(m for m in container(objects)["volumeMounts"] if m["mountPath"] == mount_dir)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    assert key in objects["ConfigMap"]["data"], f"the ConfigMap has no key {key} for --config {config_path}"
    local = tmp_path / key
    local.write_text(objects["ConfigMap"]["data"][key])
    return local, config_path


def settings_from(toml_file: Path) -> Settings:
    """What the proxy makes of the file (the real loader: unknown keys and bad values raise)."""
    return load_settings(config_file=toml_file, env={})


def check_env_names(names: list[str]) -> None:
    known = {env_var(name) for name in FIELDS}
    for name in names:
        if name.startswith(ENV_PREFIX) and name not in NOT_SETTINGS:
            assert name in known, f"{name} is not a setting of the proxy"


def image_defaults_file() -> str | None:
    """The image's own defaults file (PROXY_DEFAULTS_FILE in the Dockerfile), which no mount may hide."""
    match = re.search(r"PROXY_DEFAULTS_FILE=(\S+)", (ROOT / "Dockerfile").read_text())
    return match.group(1) if match else None


def assert_not_hidden(mount_points: list[str]) -> None:
    defaults = image_defaults_file()
    for point in mount_points:
        if defaults is not None:
            assert defaults != point and not defaults.startswith(point.rstrip("/") + "/"), (
                f"the mount at {point} hides the image's defaults file {defaults}"
            )


def image_uid() -> int | None:
    match = re.search(r"--uid (\d+)", (ROOT / "Dockerfile").read_text())
    return int(match.group(1)) if match else None


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((KUBE / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in KUBE.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_are_valid_kubernetes_objects(version: str) -> None:
    objects = manifests()
    assert set(objects) == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    for kind, doc in objects.items():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kind} is not a valid Kubernetes {version} object: {exc.message} at {list(exc.path)}")


def test_schema_validation_catches_a_broken_manifest() -> None:
    """The validator really checks (an unknown field and a wrong type are errors), so the test above can fail."""
    deployment = manifests()["Deployment"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eighty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)
    unknown = yaml.safe_load(yaml.safe_dump(deployment))
    unknown["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, KUBERNETES_VERSIONS[0], strict=True)


def test_deployment_matches_the_proxy_settings(tmp_path: Path) -> None:
    objects = manifests()
    toml_file, _ = configmap_toml(objects, tmp_path)
    settings = settings_from(toml_file)
    proxy = container(objects)
    pod = objects["Deployment"]["spec"]["template"]["spec"]

    # the port the proxy listens on is the container port every probe, the Service and the scrape use
    assert settings.host == "0.0.0.0", "inside a pod the proxy must listen on every interface"
    ports = {p["name"]: p["containerPort"] for p in proxy["ports"]}
    assert ports == {"http": settings.port}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert proxy[probe]["httpGet"]["port"] in ("http", settings.port), probe
    assert objects["Service"]["spec"]["ports"][0]["targetPort"] in ("http", settings.port)
    annotations = objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.port)
    assert settings.metrics_path, "the manifests scrape metrics: metrics_path must not be disabled"
    assert annotations["prometheus.io/path"] == settings.metrics_path

    # probes: liveness and start-up on the process serving; readiness on the proxy's own readiness, never the
    # upstream's (the semantics are checked live below), each a route of the app itself (not the forwarder's)
    assert proxy["livenessProbe"]["httpGet"]["path"] == HEALTHZ
    assert proxy["startupProbe"]["httpGet"]["path"] == HEALTHZ
    assert proxy["readinessProbe"]["httpGet"]["path"] == READYZ
    routes = {r.resource.canonical for r in create_app(settings).router.routes() if r.method == "GET" and r.resource}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert proxy[probe]["httpGet"]["path"] in routes, probe

    # SIGTERM: the endpoint removal gets time to reach every node while the pod still serves (a preStop pause or
    # the proxy's own shutdown_delay, during which /readyz answers 503), then requests in flight get
    # shutdown_timeout; the grace period covers all of it with room to spare
    pre_stop = proxy.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [""])
    pause = float(pre_stop[1]) if pre_stop[0] == "sleep" else 0.0
    assert pause + settings.shutdown_delay >= 2, "SIGTERM would close the listener while traffic still arrives"
    assert pod["terminationGracePeriodSeconds"] > pause + settings.shutdown_delay + settings.shutdown_timeout + 1
    assert settings.shutdown_timeout == Settings().shutdown_timeout, "the ConfigMap restates the default"

    # the config mount must not hide the image's own defaults file (host, port, runtime file)
    assert_not_hidden([m["mountPath"] for m in proxy["volumeMounts"]])

    # environment variables are real settings; resources requested (the HPA scales on the CPU request)
    check_env_names([e["name"] for e in proxy.get("env", [])])
    assert proxy["resources"]["requests"]["cpu"] and proxy["resources"]["requests"]["memory"]

    # non-root, as the image's own user
    assert pod["securityContext"]["runAsNonRoot"] is True
    uid = image_uid()
    if uid is not None:
        assert pod["securityContext"]["runAsUser"] == uid
    assert proxy["securityContext"]["allowPrivilegeEscalation"] is False


def test_service_hpa_and_pdb_point_at_the_deployment() -> None:
    objects = manifests()
    deployment = objects["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert objects["Service"]["spec"]["selector"].items() <= labels.items()
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    metric = objects["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["resource"]
    assert metric["name"] == "cpu"
    hpa_min = objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    assert objects["PodDisruptionBudget"]["spec"]["minAvailable"] < hpa_min, "a drain must be able to evict a pod"


async def test_probe_paths_are_answered_by_the_proxy_while_the_upstream_is_down(
    start_proxy: Any, tmp_path: Path
) -> None:
    """The probes hit real routes of the proxy with the ConfigMap's settings; readiness stays 200 with the
    upstream unreachable, so an upstream blip never takes every pod out of the Service."""
    objects = manifests()
    toml_file, _ = configmap_toml(objects, tmp_path)
    configured = tomllib.loads(toml_file.read_text())
    keep = {k: v for k, v in configured.items() if k not in ("upstream", "host", "port", "workers", "log_format")}
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    running = await start_proxy(down, **keep)
    proxy = container(objects)
    async with aiohttp.ClientSession() as client:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            path = proxy[probe]["httpGet"]["path"]
            async with client.get(running.url + path) as reply:
                assert reply.status == 200, f"{probe} {path} answered {reply.status} with the upstream down"
        async with client.get(running.url + UPSTREAM_READYZ) as reply:
            assert reply.status == 503, "the upstream is down: its own check says so, the probes above did not"
        metrics_path = running.settings.metrics_path
        async with client.get(running.url + metrics_path) as reply:
            text = await reply.text()
            if reply.status == 502:  # forwarded to the (absent) upstream: the proxy has no metrics endpoint yet
                pytest.skip(f"this version of the proxy does not serve {metrics_path} yet (issue 9)")
            assert reply.status == 200
            assert "balena_v6_proxy_" in text


async def test_readiness_probe_fails_once_the_pod_is_shutting_down(tmp_path: Path) -> None:
    """After SIGTERM (the proxy still serving for shutdown_delay) the readiness probe fails and the liveness probe
    still passes: Kubernetes takes the pod out of the Service without restarting it."""
    objects = manifests()
    toml_file, _ = configmap_toml(objects, tmp_path)
    down = f"http://127.0.0.1:{free_port()}"  # loopback only: nothing is sent to the ConfigMap's real upstream
    local = {"host": "127.0.0.1", "port": 0, "upstream": down}
    settings = load_settings(config_file=toml_file, env={}, overrides=local)
    runner = ProxyRunner(create_app(settings))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        proxy = container(objects)
        ready, live = proxy["readinessProbe"]["httpGet"]["path"], proxy["livenessProbe"]["httpGet"]["path"]
        async with aiohttp.ClientSession() as client:
            async with client.get(url + ready) as reply:
                assert reply.status == 200
            await runner.withdraw(0)  # what SIGTERM does first, before shutdown_delay runs out
            async with client.get(url + ready) as reply:
                assert (reply.status, await reply.json()) == (503, "Not ready: shutting down")
            async with client.get(url + live) as reply:
                assert reply.status == 200
    finally:
        await runner.shutdown_gracefully(1.0)


def test_compose_matches_the_proxy_settings() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    proxy = compose["services"]["proxy"]
    command = proxy["command"]
    config_in_container = command[command.index("--config") + 1]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in proxy["volumes"]}
    local = (COMPOSE.parent / mounts[config_in_container]).resolve()
    settings = settings_from(local)

    assert settings.host == "0.0.0.0"
    assert_not_hidden(list(mounts))
    published = [str(p).rsplit(":", 1)[1] for p in proxy["ports"]]
    assert published == [str(settings.port)]
    check_env_names(list(proxy["environment"]))
    grace = proxy["stop_grace_period"]
    assert grace.endswith("s") and float(grace[:-1]) > settings.shutdown_delay + settings.shutdown_timeout + 1

    # Prometheus scrapes the proxy's metrics path on its port, under the service's name
    prometheus = compose["services"]["prometheus"]
    config_file = next(v.split(":")[0] for v in prometheus["volumes"] if v.split(":")[1].endswith("prometheus.yml"))
    scrape = yaml.safe_load((COMPOSE.parent / config_file).read_text())["scrape_configs"][0]
    assert settings.metrics_path and scrape["metrics_path"] == settings.metrics_path
    assert scrape["static_configs"][0]["targets"] == [f"proxy:{settings.port}"]
