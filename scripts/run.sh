#!/usr/bin/env bash
# Install, create/upgrade the database, deploy bpmn/ + dmn/, add demo data, and serve on 127.0.0.1:5000.
# DATABASE_URL overrides the default SQLite file (instance/workflow_app.db).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export FLASK_APP=workflow_app
.venv/bin/flask setup
exec .venv/bin/flask serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
