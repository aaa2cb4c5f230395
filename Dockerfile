# syntax=docker/dockerfile:1
# The function-forge runtime image: embedded into the Function xpkg by
# `crossplane xpkg build --embed-runtime-image-tarball` (`make xpkg`).
#
# Both stages use the same base image, so the virtual environment built in the
# first one (its interpreter symlinks, compiled wheels) is valid in the second.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY functions/ functions/
# A non-editable install of the project into its own venv, with every dependency
# at the version constraints.txt pins (the one the test suite ran against).
RUN python -m venv /venv/fn \
    && /venv/fn/bin/pip install --constraint constraints.txt . \
    && /venv/fn/bin/function-forge --help >/dev/null

FROM ${PYTHON_IMAGE} AS image
ARG VERSION=dev
LABEL org.opencontainers.image.title="function-forge" \
      org.opencontainers.image.description="Catalyst Forge composition function" \
      org.opencontainers.image.source="https://github.com/input-output-hk/catalyst-forge" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /venv/fn /venv/fn
# Crossplane runs functions as non-root; a numeric user lets Kubernetes verify
# runAsNonRoot without reading /etc/passwd.
USER 65532:65532
EXPOSE 9443
# The SDK's standard flags: --insecure, --debug, --address (default 0.0.0.0:9443),
# --tls-server-certs-dir (Crossplane mounts its certificates and sets
# TLS_SERVER_CERTS_DIR).
ENTRYPOINT ["/venv/fn/bin/function-forge"]
