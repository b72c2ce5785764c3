# syntax=docker/dockerfile:1
# Build stage: install the locked, hash-checked dependencies into a virtual environment.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /venv
COPY requirements.lock ./
RUN /venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
RUN /venv/bin/pip install --no-deps --no-build-isolation . || /venv/bin/pip install --no-deps .

# Runtime stage: slim image, non-root user, data on a volume.
FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    WATCHBOT_DATABASE_URL=sqlite:////data/watchbot.db \
    WATCHBOT_FEEDS_FILE=/app/feeds.yaml
RUN useradd --create-home --uid 10001 watchbot && mkdir /data && chown watchbot /data
COPY --from=build /venv /venv
WORKDIR /app
COPY feeds.yaml ./
USER watchbot
VOLUME ["/data"]
EXPOSE 8080
CMD ["watchbot", "run"]
