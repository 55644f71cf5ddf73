# balena-v6-proxy: a small image that runs the installed package (nothing from the source tree at run time).
# BASE_IMAGE: any image with python3 >= 3.11 and its venv module (the tests use a Debian bookworm built with
# debootstrap, see scripts/prepare-docker-test). PIP_INDEX_URL / PIP_FIND_LINKS / PIP_NO_INDEX: point pip at a
# mirror or a local wheel directory (pip reads them from the environment of each RUN step).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE} AS build
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY translators ./translators
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/build/bin/pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${BASE_IMAGE}
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
# The image's own defaults (host 0.0.0.0, port 8080, JSON logs, the runtime file) live in a defaults file read
# below the user's --config, PROXY_* variables and flags; as ENV PROXY_* they would outrank a mounted config.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/proxy/bin:$PATH \
    PROXY_DEFAULTS_FILE=/etc/balena-v6-proxy/defaults.toml
COPY config/docker-defaults.toml /etc/balena-v6-proxy/defaults.toml
COPY --from=build /wheels /wheels
# A virtual environment: Debian's python3 refuses system-wide pip installs (PEP 668) and may have no pip.
RUN python3 -m venv /opt/proxy \
 && /opt/proxy/bin/pip install --no-cache-dir /wheels/*.whl \
 && rm -rf /wheels \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin balena-v6-proxy
USER balena-v6-proxy
EXPOSE 8080
# Reaches the address serve actually listens on (from its runtime file), wherever the port was set.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["balena-v6-proxy", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["balena-v6-proxy"]
CMD ["serve"]
