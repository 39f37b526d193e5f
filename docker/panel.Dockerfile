# The control panel itself: web (Daphne), worker and beat all run from this image.
#   docker build -f docker/panel.Dockerfile -t controlpanel .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CONTROLPANEL_DATA_DIR=/data

WORKDIR /app
# pg_dump / pg_restore for `manage.py backup` and `restore` on PostgreSQL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt requirements-nodeps.txt ./
RUN pip install -r requirements.txt \
 && pip install --no-deps -r requirements-nodeps.txt

COPY . .
RUN useradd --create-home --uid 10001 panel \
 && mkdir -p /data && chown panel:panel /data
USER panel
VOLUME ["/data"]
EXPOSE 8000

CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "controlpanel.asgi:application"]
