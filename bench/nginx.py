"""nginx configurations: the static v7 upstream and the ``proxy_pass`` baseline (each its own instance).

The static upstream picks ``devices-N.json`` by the request's ``$top`` (raw or ``%24``-encoded), so the same
files answer ``/v6/`` requests forwarded untouched by the baselines and ``/v7/`` requests translated by the
proxy. ``PATCH`` answers 200 with no body, as the v7 API does; ``$metadata`` answers 401 as open-balena does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)

_COMMON = """worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
{body}
}}
"""

_STATIC = """    types {{ application/json json; }}
    default_type application/json;
    map $args $bench_rows {{
        "~(^|&)(\\$|%24)top=(?<rows>[0-9]+)" $rows;
        default 1;
    }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location = /ping {{ return 200 "OK"; }}
        location ~ \\$metadata {{ return 401; }}
        location / {{
            if ($request_method = PATCH) {{ return 200; }}
            try_files /devices-$bench_rows.json =404;
        }}
    }}"""

_PROXY = """    upstream bench_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""


def static_config(prefix: Path, port: int, root: Path) -> str:
    return _COMMON.format(prefix=prefix, body=_STATIC.format(port=port, root=root))


def proxy_config(prefix: Path, port: int, upstream_port: int) -> str:
    return _COMMON.format(prefix=prefix, body=_PROXY.format(port=port, upstream_port=upstream_port))


def argv(prefix: Path, config: str) -> list[str]:
    """The command that runs nginx in the foreground with ``config`` under ``prefix``."""
    assert NGINX is not None
    prefix.mkdir(parents=True, exist_ok=True)
    prefix.chmod(0o755)
    path = prefix / "nginx.conf"
    path.write_text(config)
    return [NGINX, "-p", str(prefix), "-c", str(path), "-e", str(prefix / "error.log")]
