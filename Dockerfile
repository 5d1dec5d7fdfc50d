# One image for the five services of the mesh; docker-compose.yml picks the service by its command
# (`python -m services.<name>`). Health checks run docker/healthcheck.py (grpc.health.v1).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY gen ./gen
COPY services ./services
COPY docker/healthcheck.py ./docker/healthcheck.py
RUN pip install . \
    && useradd --create-home --uid 10001 huleedu

USER huleedu
CMD ["python", "-m", "services.batch_orchestrator"]
