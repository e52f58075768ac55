#!/usr/bin/env bash
# Production-style serving on one machine: migrate, deploy bpmn/ (no demo data), then gunicorn with
# WEB_CONCURRENCY workers plus one timer/mail worker. Stop with Ctrl-C (both stop).
# Needs DATABASE_URL (PostgreSQL for several processes), WORKFLOW_SECRET_KEY and WORKFLOW_ENCRYPTION_KEYS.
#
# The timer/mail worker is supervised: if it dies (kill -9, out of memory, a bug), it is started again after
# WORKER_RESTART_SECONDS (default 2). `bash scripts/serve-production.sh worker` runs only that supervised
# worker (the Procfile's `worker` process); `... web` only gunicorn, without set-up.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL, e.g. postgresql+psycopg://user@host/db}"
: "${WORKFLOW_SECRET_KEY:?set WORKFLOW_SECRET_KEY to a long random string}"
: "${WORKFLOW_ENCRYPTION_KEYS:?set WORKFLOW_ENCRYPTION_KEYS (make one with: flask --app workflow_app encryption new-key)}"
export FLASK_APP=workflow_app WORKFLOW_TIMER_SWEEP_SECONDS=0
# The web processes' /api/health fails when no worker has swept recently (see README, Production).
export WORKFLOW_EXPECT_WORKER="${WORKFLOW_EXPECT_WORKER:-1}"
# Each process's heap is capped by the operating system, so a runaway diagram script fails with a clear error
# instead of exhausting the machine (see README, Security).
export WORKFLOW_MEMORY_LIMIT_MB="${WORKFLOW_MEMORY_LIMIT_MB:-2048}"
flask=.venv/bin/flask
[ -x "$flask" ] || flask=flask  # installed without the project's .venv (e.g. a platform's buildpack)

supervise_worker() {
  # Run `flask timers worker` until told to stop (SIGTERM), starting it again whenever it exits.
  local child="" sleeper="" stopping=0 status
  trap 'stopping=1; kill -TERM $child $sleeper 2>/dev/null || true' TERM INT
  while [ "$stopping" = 0 ]; do
    "$flask" timers worker --interval "${SWEEP_SECONDS:-30}" &
    child=$!
    status=0
    wait "$child" || status=$?
    if [ "$stopping" = 1 ]; then
      wait "$child" 2>/dev/null || true  # the trap interrupted wait: let the worker finish its round
      break
    fi
    echo "timer worker exited (status $status); restarting in ${WORKER_RESTART_SECONDS:-2}s" >&2
    child=""
    sleep "${WORKER_RESTART_SECONDS:-2}" &
    sleeper=$!
    wait "$sleeper" || true
    sleeper=""
  done
}

case "${1:-all}" in
  worker)
    supervise_worker
    ;;
  web)
    exec .venv/bin/gunicorn --workers "${WEB_CONCURRENCY:-4}" --bind "${BIND:-127.0.0.1:8000}" --access-logfile - \
      "workflow_app:create_app()"
    ;;
  all)
    bash scripts/bootstrap.sh
    .venv/bin/flask setup --no-demo
    supervise_worker &
    supervisor=$!
    trap 'kill -TERM "$supervisor" 2>/dev/null; wait "$supervisor" 2>/dev/null || true' EXIT
    .venv/bin/gunicorn --workers "${WEB_CONCURRENCY:-4}" --bind "${BIND:-127.0.0.1:8000}" --access-logfile - \
      "workflow_app:create_app()"
    ;;
  *)
    echo "usage: $0 [all|web|worker]" >&2
    exit 2
    ;;
esac
