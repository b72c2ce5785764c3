# syntax=docker/dockerfile:1
# Build stage: the locked, hash-checked dependencies in a virtual environment. These are the
# same commands .ci/run exercises on every change (see "image install steps" there).
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /venv
COPY requirements.lock /tmp/requirements.lock
RUN /venv/bin/pip install --require-hashes -r /tmp/requirements.lock

# Runtime stage: slim image, the application source, a non-root user, data on a volume.
FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    WATCHBOT_DATABASE_URL=sqlite:////data/watchbot.db \
    WATCHBOT_FEEDS_FILE=/data/feeds.yaml \
    WATCHBOT_HTTP_PORT=8080
RUN useradd --create-home --uid 10001 watchbot \
    && mkdir /data \
    && chown 10001 /data
COPY --from=build /venv /venv
WORKDIR /app
COPY bot ./bot
COPY storage ./storage
COPY feeds.yaml ./feeds.yaml
COPY docker/entrypoint.sh /usr/local/bin/watchbot-entrypoint
RUN printf '#!/bin/sh\nexec python -m bot "$@"\n' > /venv/bin/watchbot \
    && chmod 0755 /venv/bin/watchbot /usr/local/bin/watchbot-entrypoint
USER 10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.healthcheck"]
ENTRYPOINT ["watchbot-entrypoint"]
CMD ["watchbot", "run"]
