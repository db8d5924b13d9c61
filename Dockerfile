# syntax=docker/dockerfile:1.7
# The appliance image: API + dashboard (`appliance serve`), and the one-shot commands
# (`appliance migrate`, `appliance purge`, `appliance admin …`).
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t appliance:0.1.0 .
#   docker buildx build --build-arg MODEL_PACKS=none …   # no model download at build time
#
# Stages: web (Node, runs once on the build platform: its output is architecture-free),
# wheels (the appliance wheel + every dependency wheel for the target platform), runtime
# (slim Python, non-root, no compiler, no pip cache; the package lives in its own venv).
#
# Base images are build arguments so that a box without a registry can build from a local base
# (`make image-test` bootstraps one from Debian packages); WEB_STAGE=web-prebuilt takes a bundle
# built outside (`--build-context spa=src/appliance/static`) instead of building it with Node.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG WEB_STAGE=web

FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS web
WORKDIR /build
COPY src/web/package.json src/web/package-lock.json src/web/
RUN npm --prefix src/web ci --no-audit --no-fund --loglevel=error
COPY docs/openapi.json docs/openapi.json
COPY src/web src/web
# Vite writes the bundle (and its .gz twins) into src/appliance/static.
RUN npm --prefix src/web run build

FROM scratch AS web-prebuilt
# hadolint ignore=DL3022
COPY --from=spa . /build/src/appliance/static

# hadolint ignore=DL3006
FROM ${WEB_STAGE} AS spa-bundle

FROM ${PYTHON_IMAGE} AS wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src/appliance src/appliance
COPY --from=spa-bundle /build/src/appliance/static src/appliance/static
RUN python -m venv /build/venv \
    && /build/venv/bin/pip wheel --wheel-dir /wheels '.[server]' \
    && test -n "$(python -c 'import glob; print(glob.glob("/wheels/appliance-*.whl")[0])')"

FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
ARG MODEL_PACKS=default
LABEL org.opencontainers.image.title="appliance" \
      org.opencontainers.image.description="On-prem retail visitor analytics: API and dashboard" \
      org.opencontainers.image.licenses="Proprietary"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    APPLIANCE_HOST=0.0.0.0 \
    APPLIANCE_PORT=8080 \
    APPLIANCE_DATA_DIR=/var/lib/appliance \
    APPLIANCE_MODELS_DIR=/opt/appliance/models \
    APPLIANCE_LOG_JSON=true \
    PATH=/opt/appliance/venv/bin:$PATH
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    python -m venv /opt/appliance/venv \
    && /opt/appliance/venv/bin/pip install --no-index --find-links /wheels "$(ls /wheels/appliance-*.whl)[server]" \
    && groupadd --system --gid "${APP_UID}" appliance \
    && useradd --system --uid "${APP_UID}" --gid appliance --home-dir /var/lib/appliance \
       --shell /usr/sbin/nologin appliance \
    && install -d -o appliance -g appliance -m 0750 /var/lib/appliance \
    && install -d -o root -g root -m 0755 /opt/appliance/models
# The face models that ship (commercial-use licences) are pulled and sha256-verified at build
# time, so the image runs without internet; MODEL_PACKS=none skips this (mount models instead).
RUN if [ "${MODEL_PACKS}" = "none" ]; then echo "no model packs baked in"; \
    elif [ "${MODEL_PACKS}" = "default" ]; then appliance models pull --models-dir /opt/appliance/models; \
    else appliance models pull --models-dir /opt/appliance/models ${MODEL_PACKS}; fi
USER ${APP_UID}:${APP_UID}
WORKDIR /var/lib/appliance
VOLUME ["/var/lib/appliance"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('APPLIANCE_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["appliance"]
CMD ["serve"]
