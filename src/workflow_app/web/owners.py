"""Process owners' pages: dashboard and per-protocol reports (charts, tables, CSV), history exports,
and the printable dispute record."""
from __future__ import annotations

import csv
import io
import json
from typing import Iterable

from flask import Blueprint, Response, render_template
from flask_login import current_user

from workflow_app import clock
from workflow_app.services import access, access_log, deployments, history, instances, parties, reports
from workflow_app.services.errors import NotFound
from workflow_app.web.presenters import set_page_zone

bp = Blueprint("owners", __name__)


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/reports")
def dashboard():
    summaries = [(deployments.require_latest(key), reports.protocol_report(key))
                 for key in reports.reportable_protocols(current_user)]
    return render_template("reports/dashboard.html", summaries=summaries)


@bp.get("/reports/<key>")
def protocol(key: str):
    deployment = deployments.require_latest(key)
    reports.require_reports(current_user, key)
    return render_template("reports/protocol.html", deployment=deployment, report=reports.protocol_report(key))


REPORT_TABLES = {
    "status": (["status", "instances"], lambda r: r.by_status),
    "stage_reached": (["stage reached", "instances"], lambda r: r.by_stage_reached),
    "stages": (["stage", "element id", "closed", "open", "median working days", "90th percentile working days",
                "breaches", "breach rate"],
               lambda r: [(s.title, s.element_id, s.closed, s.open, _num(s.median_days), _num(s.p90_days), s.breaches,
                           _num(s.breach_rate, 3)) for s in r.stages]),
    "counterparts": (["counterpart role", "tasks"], lambda r: r.counterparts),
}


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


@bp.get("/reports/<key>/<table>.csv")
def report_csv(key: str, table: str):
    deployments.require_latest(key)
    reports.require_reports(current_user, key)
    if table not in REPORT_TABLES:
        raise NotFound(f"There is no report table '{table}'")
    header, rows = REPORT_TABLES[table]
    return csv_response(f"{key}-{table}.csv", header, rows(reports.protocol_report(key)))


def _visible_instance(instance_id: int, view: str):
    instance = instances.get_instance(instance_id)
    access.require_see_instance(current_user, instance)
    access_log.record_view(instance, view)
    return instance


HISTORY_HEADER = ["at", "kind", "party", "actor", "task", "task_id", "element_id", "data"]


def history_rows(instance) -> list[list]:
    return [[h.at.isoformat(), h.kind, parties.label(instance, h.party) or "", h.actor or "", h.task or "",
             h.task_id or "", h.element_id or "", json.dumps(h.data, ensure_ascii=False, sort_keys=True)]
            for h in instance.history]


@bp.get("/instances/<int:instance_id>/history.csv")
def history_csv(instance_id: int):
    instance = _visible_instance(instance_id, "history_csv")
    return csv_response(f"escalation-{instance.id}-history.csv", HISTORY_HEADER, history_rows(instance))


@bp.get("/instances/<int:instance_id>/history.json")
def history_json(instance_id: int):
    instance = _visible_instance(instance_id, "history_json")
    body = json.dumps({"instance": instance.id, "protocol": instance.protocol_key,
                       "version": instance.deployment.version,
                       "history": [history.to_dict(h) for h in instance.history]}, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="escalation-{instance.id}-history.json"'})


@bp.get("/instances/<int:instance_id>/record")
def printable_record(instance_id: int):
    instance = _visible_instance(instance_id, "record")
    set_page_zone(instance.deployment)
    return render_template("record.html", instance=instance, timings=instances.stage_timings(instance),
                           generated_at=clock.now(), generated_by=current_user)
