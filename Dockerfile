# organizer-bot container image.
#
#   docker build -t organizer-bot .
#   docker compose up -d            (see compose.yaml: secrets come from files, data in a volume)
#
# BASE_IMAGE must provide python3 (3.11 or newer) with the venv module; both stages use it, so
# the virtual environment built in the first stage runs unchanged in the second. No secret is
# passed to the build: configuration and keys arrive at run time (environment / *_FILE).
ARG BASE_IMAGE=python:3.12-slim

# ---------------------------------------------------------------- build: a venv with the bot
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
# dependencies first (cached while only the code changes)
COPY pyproject.toml /src/pyproject.toml
RUN /opt/venv/bin/python -c "import tomllib; d = tomllib.load(open('/src/pyproject.toml', 'rb')); print('\n'.join(d['project']['dependencies']))" > /tmp/requirements.txt \
 && /opt/venv/bin/pip install -q -r /tmp/requirements.txt
COPY . /src
RUN /opt/venv/bin/pip install -q --no-deps /src \
 && /opt/venv/bin/organizer-bot --help > /dev/null

# ---------------------------------------------------------------- run: non-root, data in /data
FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOT_DATA_DIR=/data
RUN groupadd --system --gid 10001 organizer \
 && useradd --system --uid 10001 --gid organizer --home-dir /data --no-create-home --shell /usr/sbin/nologin organizer \
 && mkdir -p /data /app /run/secrets && chown organizer:organizer /data && chmod 0700 /data
COPY --from=build /opt/venv /opt/venv
# an empty working directory: no stray ./.env is picked up
WORKDIR /app
VOLUME ["/data"]
USER 10001:10001
HEALTHCHECK --interval=60s --timeout=15s --start-period=120s --retries=3 \
  CMD ["organizer-bot", "healthcheck"]
# `organizer-bot run` by default; other subcommands (backup, export-aggregates, burn) with
# `docker compose run --rm bot backup /data/backup.db`
ENTRYPOINT ["organizer-bot"]
CMD ["run"]
