"""JSON API (stable: integrations and acceptance checks use it). Errors are JSON with ``error``."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from workflow_app.services import access, deployments, instances, reports
from workflow_app.services.errors import InvalidInput, ServiceError
from workflow_app.web.presenters import instance_dict, protocol_dict, report_dict, summary_dict, task_dict

bp = Blueprint("api", __name__)


@bp.errorhandler(ServiceError)
def service_error(exc: ServiceError):
    body = {"error": exc.message}
    if isinstance(exc, InvalidInput):
        body["fields"] = exc.field_errors
    if getattr(exc, "problems", None):
        body["problems"] = exc.problems
    return jsonify(body), exc.status_code


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return jsonify({"error": exc.description or exc.name}), exc.code


@bp.errorhandler(Exception)
def unexpected_error(exc: Exception):
    bp_logger().exception("unexpected API error")
    return jsonify({"error": "Something went wrong on the server; nothing was saved. The error has been logged."}), 500


def bp_logger():
    from flask import current_app
    return current_app.logger


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ServiceError("Send a JSON object as the request body")
    return body


def _data_field(body: dict) -> dict:
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise ServiceError("'data' must be a JSON object of form fields")
    return data


@bp.before_request
def tokens_only():
    """The API takes bearer tokens only: a browser's session cookie must not drive it (no CSRF there).
    ``auth.load_user`` ignores the session under /api/, so the user here is the token's, or nobody: 401,
    whatever cookies come with the request."""
    if request.endpoint == "api.health":
        return None
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        return jsonify({"error": "Send 'Authorization: Bearer <token>' "
                                 "(create one with: flask --app workflow_app users token USERNAME)"}), 401
    if not current_user.is_authenticated:
        return jsonify({"error": "That API token is not valid (unknown, revoked, or its user deactivated)"}), 401
    return None


@bp.get("/health")
def health():
    """Liveness for monitoring: the database answers, a worker has swept recently, mail is not backing up.

    200 or 503, always JSON: ``{status, worker: {last_sweep_at, ...}, mail: {pending, overdue, ...}, problems}``.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from workflow_app.extensions import db
    from workflow_app.services import heartbeat
    try:
        body, status = heartbeat.health_report()
    except SQLAlchemyError as exc:
        db.session.remove()  # drops the session and whatever connection it held
        bp_logger().warning("health check: database unavailable: %s", str(exc).splitlines()[0])
        return jsonify({"status": "failing", "problems": ["the database is unavailable"]}), 503
    return jsonify(body), status


@bp.get("/me")
def me():
    user = current_user
    return jsonify({"username": user.username, "display_name": user.display_name,
                    "agency": user.agency.name if user.agency else None, "roles": [r.name for r in user.roles]})


@bp.get("/protocols")
def list_protocols():
    return jsonify([protocol_dict(d) for d in deployments.latest_deployments()])


@bp.post("/instances")
def start_instance():
    body = _json_body()
    protocol = body.get("protocol")
    if not isinstance(protocol, str) or not protocol:
        raise InvalidInput({"protocol": "Name the protocol to start (its key)"}, "Name the protocol to start")
    instance = instances.start_instance(protocol, _data_field(body), user=current_user)
    return jsonify(instance_dict(instance)), 201


@bp.get("/instances")
def list_instances():
    """Instances I may see, filtered like the Escalations page (protocol, status, stage, agency, case,
    from, to, overdue, sort, page). The total and paging are in the X-Total-Count / X-Page headers."""
    page = reports.search(current_user, reports.InstanceFilter.from_args(request.args))
    response = jsonify([summary_dict(i) for i in page.items])
    response.headers["X-Total-Count"] = str(page.total)
    response.headers["X-Page"] = f"{page.page}/{page.pages}"
    return response


@bp.get("/reports/<key>")
def protocol_report(key: str):
    deployments.require_latest(key)
    reports.require_reports(current_user, key)
    return jsonify(report_dict(reports.protocol_report(key)))


@bp.get("/instances/<int:instance_id>")
def get_instance(instance_id: int):
    instance = instances.get_instance(instance_id)
    access.require_see_instance(current_user, instance)
    return jsonify(instance_dict(instance))


@bp.get("/instances/<int:instance_id>/diagram")
def get_instance_diagram(instance_id: int):
    instance = instances.get_instance(instance_id)
    access.require_see_instance(current_user, instance)
    return jsonify(instances.diagram_view(instance))


@bp.post("/instances/<int:instance_id>/cancel")
def cancel_instance(instance_id: int):
    reason = _json_body().get("reason")
    instance = instances.cancel_instance(instance_id, reason if isinstance(reason, str) else "", user=current_user)
    return jsonify(instance_dict(instance))


@bp.get("/tasks")
def list_tasks():
    """Tasks I can act on: assigned to me and unassigned for my roles (or one ``view``: mine, available, team)."""
    role = request.args.get("role")
    views = [request.args["view"]] if request.args.get("view") else ["mine", "available"]
    tasks = [t for view in views for t in instances.inbox(current_user, view, role)]
    return jsonify([task_dict(t) for t in tasks])


@bp.get("/tasks/<task_id>")
def get_task(task_id: str):
    record = instances.get_task(task_id)
    access.require_see_instance(current_user, record.instance)
    return jsonify(task_dict(record))


@bp.post("/tasks/<task_id>/complete")
def complete_task(task_id: str):
    instance = instances.complete_task(task_id, _data_field(_json_body()), user=current_user)
    return jsonify(instance_dict(instance))


@bp.post("/tasks/<task_id>/claim")
def claim_task(task_id: str):
    return jsonify(task_dict(instances.claim_task(task_id, user=current_user)))


@bp.post("/tasks/<task_id>/release")
def release_task(task_id: str):
    return jsonify(task_dict(instances.release_task(task_id, user=current_user)))


@bp.post("/tasks/<task_id>/resend-link")
def resend_task_link(task_id: str):
    return jsonify(task_dict(instances.resend_link(task_id, user=current_user)))


@bp.post("/tasks/<task_id>/reassign")
def reassign_task(task_id: str):
    assignee = _json_body().get("assignee")
    if not isinstance(assignee, str) or not assignee.strip():
        raise InvalidInput({"assignee": "Name the user (username) to give the task to"}, "Name the new assignee")
    return jsonify(task_dict(instances.reassign_task(task_id, assignee, user=current_user)))
