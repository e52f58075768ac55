"""Process owners' pages: dashboard and per-protocol reports (charts, tables, CSV), history exports,
and the printable dispute record."""
from __future__ import annotations

import csv
import io
import json
from typing import Iterable

from flask import Blueprint, Response, jsonify, render_template, request
from flask_login import current_user

from workflow_app import clock
from workflow_app.services import (access, access_log, dashboard as dashboards, deployments, history, instances, views,
                                   parties, people, reports)
from workflow_app.services.errors import NotFound
from workflow_app.web.presenters import set_page_zone

bp = Blueprint("owners", __name__)


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]) -> Response:
    """A CSV download that starts with a UTF-8 byte order mark, so Excel reads accents and dashes as UTF-8."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(buffer.getvalue(), mimetype="text/csv",  # werkzeug adds "; charset=utf-8"
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/reports")
def dashboard():
    """The process owner's landing page: one protocol's dashboard (``?protocol=``, else the one of theirs with
    the most running escalations), with the other protocols they own a click away."""
    owned = [deployments.require_latest(key) for key in reports.reportable_protocols(current_user)]
    if not owned:
        if not (current_user.has_role(people.PROCESS_OWNER) or access.is_admin(current_user)):
            access.refuse(current_user, "read dashboard", "reports",
                          "The dashboard is for process owners and administrators.")
        return render_template("reports/dashboard.html", owned=[], board=None)
    wanted = request.args.get("protocol")
    chosen = next((d for d in owned if d.protocol_key == wanted), None)
    if wanted and chosen is None:
        deployments.require_latest(wanted)  # 404 for an unknown protocol
        reports.require_reports(current_user, wanted)  # 403 for someone else's
    if chosen is None:
        busiest = dashboards.busiest([d.protocol_key for d in owned])
        chosen = next(d for d in owned if d.protocol_key == busiest)
    set_page_zone(chosen)
    return render_template("reports/dashboard.html", owned=owned, board=dashboards.protocol_dashboard(chosen),
                           open_stage_filter=dashboards.open_stage_filter)


@bp.get("/reports/<key>/heatmap.json")
def heatmap(key: str):
    deployment = deployments.require_latest(key)
    reports.require_reports(current_user, key)
    return jsonify(dashboards.heatmap(deployment))


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


HISTORY_HEADER = ["at", "kind", "party", "actor", "task", "task_id", "element_id"]


def history_rows(instance) -> tuple[list[str], list[list]]:
    """The history as a header and rows: the fixed columns, then one column per form field or data key (in the
    order they first appear), so a spreadsheet can filter and sort on them; a list is one '; '-joined cell and
    a table (rows of a repeating section) stays JSON in its cell."""
    keys = list(dict.fromkeys(key for h in instance.history for key in (h.data or {})))
    rows = [[h.at.isoformat(), h.kind, parties.label(instance, h.party) or "", h.actor or "", h.task or "",
             h.task_id or "", h.element_id or "", *(_csv_cell((h.data or {}).get(key)) for key in keys)]
            for h in instance.history]
    return [*HISTORY_HEADER, *keys], rows


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value):
        return "; ".join(str(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@bp.get("/instances/<int:instance_id>/history.csv")
def history_csv(instance_id: int):
    instance = _visible_instance(instance_id, "history_csv")
    return csv_response(f"escalation-{instance.id}-history.csv", *history_rows(instance))


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
    return render_template("record.html", instance=instance, timings=views.stage_timings(instance),
                           generated_at=clock.now(), generated_by=current_user)
