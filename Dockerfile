# wagate: the gateway in a container.  docker build -t wagate .   (or scripts/container.sh build)
# Data (SQLite, device stores, received media, the generated admin token) lives in /data.

# ---- build: a virtual environment with wagate and the whatsmeow engine, no dev tools ----
FROM debian:bookworm-slim AS python
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*

# The runtime dependencies alone, read from pyproject.toml: the slow install below is redone
# only when they change, not with the version, the dev tools or the source.
FROM python AS requirements
COPY pyproject.toml /tmp/
RUN python3 -c "import tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['whatsmeow']))" > /requirements.txt

FROM python AS build
# Optional: a package index mirror and the CA bundle pip should trust (a bundle file mounted
# into the build, e.g. podman build --volume). Empty: pip's own defaults.
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_CERT=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY --from=requirements /requirements.txt /tmp/requirements.txt
# An empty PIP_* variable is not "unset" to pip: each RUN drops the ones not given.
RUN for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CERT; do \
      eval "value=\${$name:-}"; [ -n "$value" ] || unset "$name"; \
    done \
 && python3 -m venv /opt/wagate \
 && /opt/wagate/bin/pip install -r /tmp/requirements.txt
WORKDIR /src
COPY . .
RUN for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CERT; do \
      eval "value=\${$name:-}"; [ -n "$value" ] || unset "$name"; \
    done \
 && /opt/wagate/bin/pip install '.[whatsmeow]' \
 && find /opt/wagate -name '__pycache__' -prune -exec rm -rf {} +

# ---- runtime: Python, neonize's system libraries, the venv, a non-root user ----
FROM debian:bookworm-slim
# libmagic1: neonize imports python-magic. ffmpeg: neonize's video and voice notes.
# tini: PID 1 that forwards SIGTERM to wagate and reaps orphans of engine hosts.
# ca-certificates: TLS to WhatsApp, webhook URLs and media URLs.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 libmagic1 ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home wagate \
 && mkdir /data && chown wagate:wagate /data && chmod 0700 /data
COPY --from=build /opt/wagate /opt/wagate
ENV PATH=/opt/wagate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WAGATE_DATA_DIR=/data \
    WAGATE_HOST=0.0.0.0 \
    WAGATE_PORT=8080
USER wagate
WORKDIR /data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('WAGATE_PORT', '8080') + '/healthz', timeout=4)"]
# Exec form: tini is PID 1 and `wagate serve` its only child, so `docker stop` (SIGTERM)
# reaches wagate, which drains and exits 0.
ENTRYPOINT ["/usr/bin/tini", "--", "wagate"]
CMD ["serve"]
