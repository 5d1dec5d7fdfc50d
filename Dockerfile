# One image for the five services of the mesh; docker-compose.yml picks the service by its command
# (`python -m services.<name>`). Health checks run docker/healthcheck.py (grpc.health.v1).
#
# Two stages: the first installs the locked dependencies (requirements.lock: exact versions, checked
# against their hashes) and the project into a virtualenv; the second is a clean base with that
# virtualenv, the British word list, and nothing else (no build tools, no sources beyond the
# installed package, no tests, benchmarks or local-stack tooling).
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY gen ./gen
COPY services ./services
RUN pip install --no-deps .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

# Debian's British word list: the Spell Checker leaves British spellings as written.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wbritish \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY docker/healthcheck.py ./docker/healthcheck.py
# /auth: where docker compose mounts the signing keys (the `auth-keys` volume). Docker gives a new
# named volume the owner of the directory it is mounted on, so the `auth-init` service, running as
# this user, can write the development keys there.
RUN useradd --create-home --uid 10001 huleedu \
    && mkdir /auth && chown huleedu:huleedu /auth && chmod 0700 /auth

USER huleedu
CMD ["python", "-m", "services.batch_orchestrator"]
