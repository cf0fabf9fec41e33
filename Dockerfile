# syntax=docker/dockerfile:1
# sonicmap image: one image, three roles (api, worker, beat) chosen by the command.
# Builds for linux/amd64 and linux/arm64 (Raspberry Pi 4, 64-bit OS):
#   docker buildx build --platform linux/amd64,linux/arm64 -t sonicmap:latest .
# Every runtime dependency ships manylinux/aarch64 wheels, so no compiler is needed at build time.
#
# Build arguments:
#   BASE_IMAGE  the image both stages start from (default: the official Python image). Any Debian
#               or Ubuntu based image with python3 (3.11 or newer) and its venv module works, e.g.
#               one made from Debian's packages on a machine without a registry (docs/deployment.md).
# Offline build: when docker/wheels/<dpkg architecture>/ (amd64, arm64) holds wheels, prepared on
# the host by scripts/prepare-wheels, the project and its dependencies are installed from them
# alone (pip --no-index): nothing in the build touches the network. Otherwise pip uses PyPI.

ARG PYTHON_VERSION=3.11
ARG BASE_IMAGE=python:${PYTHON_VERSION}-slim-bookworm

# ---- builder: install sonicmap and its dependencies into a self-contained venv ----------------
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY docker/wheels /wheels
COPY pyproject.toml README.md ./
COPY config ./config
COPY src ./src
# The venv's own pip installs the project (built by hatchling from these sources, in pip's
# isolated build environment) and then is uninstalled with setuptools: the runtime needs neither.
# Tests shipped inside packages (numpy, scipy, scikit-learn, ...) and byte-code caches go too.
RUN set -eu; \
    python3 -m venv /opt/venv; \
    wheels="/wheels/$(dpkg --print-architecture)"; \
    if ls "$wheels"/*.whl >/dev/null 2>&1; then \
        echo "installing from the wheels in $wheels (offline)"; \
        /opt/venv/bin/pip install --no-compile --no-index --find-links "$wheels" /src; \
    else \
        /opt/venv/bin/pip install --no-compile /src; \
    fi; \
    /opt/venv/bin/pip uninstall --yes pip setuptools; \
    find /opt/venv -depth -type d \( -name __pycache__ -o -name tests \) -exec rm -rf {} +; \
    /opt/venv/bin/sonicmap --help >/dev/null

# ---- runtime: the base image, a non-root user and the venv; nothing else ------------------------
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="sonicmap" \
      org.opencontainers.image.description="Map a music library by sound: MIR analysis, 64-D embeddings, GMM artist clusters, REST API." \
      org.opencontainers.image.licenses="MIT"
# BLAS/OpenMP threads are capped: a Pi 4 has 4 cores shared by the api, worker and databases.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SONICMAP_DATA_DIR=/data \
    SONICMAP_LIBRARY_ROOTS=/music \
    SONICMAP_PORT=8000 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1
COPY --from=builder /opt/venv /opt/venv
COPY docker/entrypoint.sh /usr/local/bin/sonicmap-entrypoint
RUN groupadd --system --gid 10001 sonicmap \
 && useradd --system --uid 10001 --gid sonicmap --home-dir /data --shell /usr/sbin/nologin sonicmap \
 && mkdir -p /data /music \
 && chown sonicmap:sonicmap /data \
 && chmod 0755 /usr/local/bin/sonicmap-entrypoint
USER sonicmap
# Beat keeps its schedule state file in the working directory: the data volume.
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# The check is the API's liveness; compose disables it for the worker and beat roles.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('SONICMAP_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/api/v1/health', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["sonicmap-entrypoint"]
CMD ["api"]
