"""JSON API (stable: integrations and acceptance checks use it). Errors are JSON with ``error``."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException

from workflow_app.services import deployments, instances
from workflow_app.services.errors import InvalidInput, ServiceError
from workflow_app.web.actor import current_actor
from workflow_app.web.presenters import instance_dict, protocol_dict, task_dict

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


@bp.get("/protocols")
def list_protocols():
    return jsonify([protocol_dict(d) for d in deployments.latest_deployments()])


@bp.post("/instances")
def start_instance():
    body = _json_body()
    protocol = body.get("protocol")
    if not isinstance(protocol, str) or not protocol:
        raise InvalidInput({"protocol": "Name the protocol to start (its key)"}, "Name the protocol to start")
    instance = instances.start_instance(protocol, _data_field(body), actor=current_actor())
    return jsonify(instance_dict(instance)), 201


@bp.get("/instances")
def list_instances():
    return jsonify([{k: v for k, v in instance_dict(i).items() if k not in ("history", "data")}
                    for i in instances.list_instances(status=request.args.get("status"))])


@bp.get("/instances/<int:instance_id>")
def get_instance(instance_id: int):
    return jsonify(instance_dict(instances.get_instance(instance_id)))


@bp.post("/instances/<int:instance_id>/cancel")
def cancel_instance(instance_id: int):
    reason = _json_body().get("reason")
    instance = instances.cancel_instance(instance_id, reason if isinstance(reason, str) else "", actor=current_actor())
    return jsonify(instance_dict(instance))


@bp.get("/tasks")
def list_tasks():
    return jsonify([task_dict(t) for t in instances.ready_tasks(role=request.args.get("role"))])


@bp.get("/tasks/<task_id>")
def get_task(task_id: str):
    return jsonify(task_dict(instances.get_task(task_id)))


@bp.post("/tasks/<task_id>/complete")
def complete_task(task_id: str):
    instance = instances.complete_task(task_id, _data_field(_json_body()), actor=current_actor())
    return jsonify(instance_dict(instance))
