#!/usr/bin/env bash
# Production-style serving on one machine: migrate, deploy bpmn/ (no demo data), then gunicorn with
# WEB_CONCURRENCY workers plus one timer/mail worker. Stop with Ctrl-C (both stop).
# Needs DATABASE_URL (PostgreSQL for several processes) and WORKFLOW_SECRET_KEY.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL, e.g. postgresql+psycopg://user@host/db}"
: "${WORKFLOW_SECRET_KEY:?set WORKFLOW_SECRET_KEY to a long random string}"
bash scripts/bootstrap.sh
export FLASK_APP=workflow_app WORKFLOW_TIMER_SWEEP_SECONDS=0
.venv/bin/flask setup --no-demo
.venv/bin/flask timers worker --interval "${SWEEP_SECONDS:-30}" &
worker=$!
trap 'kill "$worker" 2>/dev/null' EXIT
.venv/bin/gunicorn --workers "${WEB_CONCURRENCY:-4}" --bind "${BIND:-127.0.0.1:8000}" --access-logfile - \
  "workflow_app:create_app()"
