# syntax=docker/dockerfile:1
# sonicmap image: one image, three roles (api, worker, beat) chosen by the command.
# Builds for linux/amd64 and linux/arm64 (Raspberry Pi 4, 64-bit OS):
#   docker buildx build --platform linux/amd64,linux/arm64 -t sonicmap:latest .
# Every runtime dependency ships manylinux/aarch64 wheels, so no compiler is needed at build time.

ARG PYTHON_VERSION=3.11

# ---- builder: build the wheel and install it into a self-contained venv -----------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY config ./config
COPY src ./src
RUN pip install --upgrade pip build \
 && python -m build --wheel --outdir /wheels . \
 && pip install /wheels/*.whl \
 && find /opt/venv -name '__pycache__' -type d -prune -exec rm -rf {} +

# ---- runtime: slim Python, non-root user, only the venv ----------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm
# BLAS/OpenMP threads are capped: a Pi 4 has 4 cores shared by the api, worker and databases.
LABEL org.opencontainers.image.title="sonicmap" \
      org.opencontainers.image.description="Map a music library by sound: MIR analysis, 64-D embeddings, GMM artist clusters, REST API." \
      org.opencontainers.image.licenses="MIT"
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
