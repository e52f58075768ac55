"""JSON API (stable: integrations and acceptance checks use it). Errors are JSON with ``error``.

Every route is described by the request/response models of :mod:`workflow_app.web.api_schemas`; spectree
checks requests and responses against them and publishes them as OpenAPI 3.1 at ``/api/openapi.json``.
"""
from __future__ import annotations

import json

from flask import Blueprint, jsonify, request
from flask_login import current_user
from spectree import Response, SecurityScheme, SpecTree
from spectree.models import SecuritySchemeData
from werkzeug.exceptions import HTTPException

from workflow_app.services import access, access_log, deployments, instances, reports, views
from workflow_app.services.errors import InvalidInput, ServiceError
from workflow_app.web import api_schemas as schemas
from workflow_app.web.presenters import instance_dict, protocol_dict, report_dict, summary_dict, task_dict

bp = Blueprint("api", __name__)


def _validation_error_as_ours(req, resp, req_validation_error, instance, model_adapter) -> None:
    """A request that does not match its model gets the API's own error body: a sentence and a message
    per field, never the validator's raw list."""
    if req_validation_error is None:
        return
    fields = {}
    for problem in req_validation_error.errors():
        name = ".".join(str(part) for part in problem.get("loc", ()) if part not in ("body", "query"))
        if name:
            fields.setdefault(name, problem.get("msg", "is not valid"))
        else:
            fields["body"] = "Send a JSON object as the request body"
    resp.set_data(json.dumps({"error": "Some fields are missing or not valid", "fields": fields}))
    resp.mimetype = "application/json"


api_spec = SpecTree(
    "flask", title="workflow_app API", version="1",
    description="Escalations, tasks and reports of workflow_app. Send 'Authorization: Bearer <token>' "
                "(create a token with: flask --app workflow_app users token USERNAME).",
    path="apidoc", mode="strict", page_templates={}, annotations=False,
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(type="http", scheme="bearer"))],
    security={"bearer": []}, before=_validation_error_as_ours, validation_error_status=400,
    validation_error_model=schemas.ErrorOut, naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child)

# The errors every signed-in route can answer with.
_ERRORS = {"HTTP_400": schemas.ErrorOut, "HTTP_401": schemas.ErrorOut, "HTTP_403": schemas.ErrorOut,
           "HTTP_404": schemas.ErrorOut, "HTTP_409": schemas.ErrorOut, "HTTP_429": schemas.ErrorOut,
           "HTTP_500": schemas.ErrorOut}


def _responses(**ok) -> Response:
    return Response(**ok, **_ERRORS)


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
    if exc.response is not None:  # already a full JSON answer (a request that failed its model)
        return exc.response
    return jsonify({"error": exc.description or exc.name}), exc.code


@bp.errorhandler(Exception)
def unexpected_error(exc: Exception):
    bp_logger().exception("unexpected API error")
    return jsonify({"error": "Something went wrong on the server; nothing was saved. The error has been logged."}), 500


def bp_logger():
    from flask import current_app
    return current_app.logger


@bp.before_request
def tokens_only():
    """The API takes bearer tokens only: a browser's session cookie must not drive it (no CSRF there).
    ``auth.load_user`` ignores the session under /api/, so the user here is the token's, or nobody: 401,
    whatever cookies come with the request."""
    if request.endpoint in ("api.health", "api.openapi"):
        return None
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        return jsonify({"error": "Send 'Authorization: Bearer <token>' "
                                 "(create one with: flask --app workflow_app users token USERNAME)"}), 401
    if not current_user.is_authenticated:
        return jsonify({"error": "That API token is not valid (unknown, revoked, or its user deactivated)"}), 401
    return None


@bp.get("/openapi.json")
def openapi():
    """The API's OpenAPI 3.1 description, generated from the models every route validates with."""
    return jsonify(api_spec.spec)


@bp.get("/health")
@api_spec.validate(resp=Response(HTTP_200=schemas.HealthOut, HTTP_503=schemas.HealthOut), security={},
                   tags=["monitoring"])
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
@api_spec.validate(resp=_responses(HTTP_200=schemas.MeOut), tags=["people"])
def me():
    user = current_user
    return jsonify({"username": user.username, "display_name": user.display_name,
                    "agency": user.agency.name if user.agency else None, "roles": [r.name for r in user.roles]})


@bp.get("/protocols")
@api_spec.validate(resp=_responses(HTTP_200=schemas.ProtocolListOut), tags=["protocols"])
def list_protocols():
    return jsonify([protocol_dict(d) for d in deployments.latest_deployments()])


@bp.get("/protocols/<key>")
@api_spec.validate(resp=_responses(HTTP_200=schemas.ProtocolDetailOut), tags=["protocols"])
def get_protocol(key: str):
    """A protocol's latest version and its start form, so an integration can raise an escalation without guessing."""
    deployment = deployments.require_latest(key)
    form = views.start_form(deployment)
    return jsonify({**protocol_dict(deployment),
                    "start_form": {"fields": [f.to_dict() for f in form.fields] if form else []}})


@bp.post("/instances")
@api_spec.validate(json=schemas.StartInstanceBody, resp=_responses(HTTP_201=schemas.InstanceOut),
                   tags=["escalations"])
def start_instance():
    body = request.context.json
    instance = instances.start_instance(body.protocol, body.data, user=current_user)
    return jsonify(instance_dict(instance)), 201


@bp.get("/instances")
@api_spec.validate(query=schemas.InstanceQuery, resp=_responses(HTTP_200=schemas.InstanceListOut),
                   tags=["escalations"])
def list_instances():
    """Instances I may see, filtered like the Escalations page (protocol, status, stage, agency, case,
    from, to, overdue, sort, page). The total and paging are in the X-Total-Count / X-Page headers."""
    page = reports.search(current_user, reports.InstanceFilter.from_args(request.args))
    response = jsonify([summary_dict(i) for i in page.items])
    response.headers["X-Total-Count"] = str(page.total)
    response.headers["X-Page"] = f"{page.page}/{page.pages}"
    return response


@bp.get("/reports/<key>")
@api_spec.validate(resp=_responses(HTTP_200=schemas.ReportOut), tags=["reports"])
def protocol_report(key: str):
    deployments.require_latest(key)
    reports.require_reports(current_user, key)
    return jsonify(report_dict(reports.protocol_report(key)))


@bp.get("/instances/<int:instance_id>")
@api_spec.validate(resp=_responses(HTTP_200=schemas.InstanceOut), tags=["escalations"])
def get_instance(instance_id: int):
    instance = instances.get_instance(instance_id)
    access.require_see_instance(current_user, instance)
    access_log.record_view(instance, "api")
    return jsonify(instance_dict(instance))


@bp.get("/instances/<int:instance_id>/diagram")
@api_spec.validate(resp=_responses(HTTP_200=schemas.DiagramOut), tags=["escalations"])
def get_instance_diagram(instance_id: int):
    instance = instances.get_instance(instance_id)
    access.require_see_instance(current_user, instance)
    access_log.record_view(instance, "api_diagram")
    return jsonify(views.diagram_view(instance))


@bp.post("/instances/<int:instance_id>/cancel")
@api_spec.validate(json=schemas.CancelBody, resp=_responses(HTTP_200=schemas.InstanceOut), tags=["escalations"])
def cancel_instance(instance_id: int):
    instance = instances.cancel_instance(instance_id, request.context.json.reason, user=current_user)
    return jsonify(instance_dict(instance))


@bp.get("/tasks")
@api_spec.validate(query=schemas.TaskQuery, resp=_responses(HTTP_200=schemas.TaskListOut), tags=["tasks"])
def list_tasks():
    """Tasks I can act on: assigned to me and unassigned for my roles (or one ``view``: mine, available, team)."""
    role = request.args.get("role")
    wanted = [request.args["view"]] if request.args.get("view") else ["mine", "available"]
    tasks = [t for view in wanted for t in views.inbox(current_user, view, role)]
    return jsonify([task_dict(t) for t in tasks])


@bp.get("/tasks/<task_id>")
@api_spec.validate(resp=_responses(HTTP_200=schemas.TaskOut), tags=["tasks"])
def get_task(task_id: str):
    record = instances.get_task(task_id)
    access.require_see_instance(current_user, record.instance)
    return jsonify(task_dict(record))


@bp.post("/tasks/<task_id>/complete")
@api_spec.validate(json=schemas.CompleteTaskBody, resp=_responses(HTTP_200=schemas.InstanceOut), tags=["tasks"])
def complete_task(task_id: str):
    instance = instances.complete_task(task_id, request.context.json.data, user=current_user)
    return jsonify(instance_dict(instance))


@bp.post("/tasks/<task_id>/claim")
@api_spec.validate(resp=_responses(HTTP_200=schemas.TaskOut), tags=["tasks"])
def claim_task(task_id: str):
    return jsonify(task_dict(instances.claim_task(task_id, user=current_user)))


@bp.post("/tasks/<task_id>/release")
@api_spec.validate(resp=_responses(HTTP_200=schemas.TaskOut), tags=["tasks"])
def release_task(task_id: str):
    return jsonify(task_dict(instances.release_task(task_id, user=current_user)))


@bp.post("/tasks/<task_id>/resend-link")
@api_spec.validate(resp=_responses(HTTP_200=schemas.TaskOut), tags=["tasks"])
def resend_task_link(task_id: str):
    return jsonify(task_dict(instances.resend_link(task_id, user=current_user)))


@bp.post("/tasks/<task_id>/reassign")
@api_spec.validate(json=schemas.ReassignBody, resp=_responses(HTTP_200=schemas.TaskOut), tags=["tasks"])
def reassign_task(task_id: str):
    assignee = request.context.json.assignee
    if not assignee.strip():
        raise InvalidInput({"assignee": "Name the user (username) to give the task to"}, "Name the new assignee")
    return jsonify(task_dict(instances.reassign_task(task_id, assignee, user=current_user)))


# -- operating running escalations: suspend, resume, retry, migrate (services/operations.py,
#    services/version_migration.py) ------------------------------------------------------------------------

from workflow_app.services import deliveries, operations, version_migration  # noqa: E402  (kept with the routes that use them)


@bp.get("/instances/<int:instance_id>/operations")
@api_spec.validate(resp=_responses(HTTP_200=schemas.OperationsOut), tags=["operations"])
def instance_operations(instance_id: int):
    """Version, suspension and (for an escalation in error) what failed, where, with what data."""
    instance = instances.get_instance(instance_id)
    access.require_see_instance(current_user, instance)
    return jsonify(operations.state_dict(instance))


@bp.post("/instances/<int:instance_id>/suspend")
@api_spec.validate(json=schemas.SuspendBody, resp=_responses(HTTP_200=schemas.OperationsOut), tags=["operations"])
def suspend_instance(instance_id: int):
    instance = operations.suspend(instance_id, request.context.json.reason, user=current_user)
    return jsonify(operations.state_dict(instance))


@bp.post("/instances/<int:instance_id>/resume")
@api_spec.validate(json=schemas.ResumeBody, resp=_responses(HTTP_200=schemas.OperationsOut), tags=["operations"])
def resume_instance(instance_id: int):
    body = request.context.json
    instance = operations.resume(instance_id, body.deadlines, user=current_user, reason=body.reason)
    return jsonify(operations.state_dict(instance))


@bp.post("/instances/<int:instance_id>/retry")
@api_spec.validate(json=schemas.RetryBody, resp=_responses(HTTP_200=schemas.OperationsOut), tags=["operations"])
def retry_instance(instance_id: int):
    instance = operations.retry(instance_id, request.context.json.reason, user=current_user)
    return jsonify(operations.state_dict(instance))


@bp.post("/instances/<int:instance_id>/move-back")
@api_spec.validate(json=schemas.MoveBackBody, resp=_responses(HTTP_200=schemas.OperationsOut), tags=["operations"])
def move_back_instance(instance_id: int):
    """Move a running or errored escalation back to a person's task it has already passed (process owners of
    the protocol, administrators); the earlier task opens again with deadlines counted from now."""
    body = request.context.json
    instance = operations.move_back(instance_id, body.to, body.reason, user=current_user)
    return jsonify(operations.state_dict(instance))


@bp.get("/instances/<int:instance_id>/earlier-tasks")
@api_spec.validate(resp=_responses(HTTP_200=schemas.EarlierTasksOut), tags=["operations"])
def earlier_tasks(instance_id: int):
    """The tasks an escalation can be moved back to (element ids for ``move-back``'s ``to``)."""
    instance = instances.get_instance(instance_id)
    access.require_see_instance(current_user, instance)
    return jsonify({"tasks": [{"element_id": t.element_id, "title": t.title}
                              for t in operations.earlier_tasks(instance)]})


@bp.post("/instances/<int:instance_id>/migrate")
@api_spec.validate(json=schemas.MigrateBody, resp=_responses(HTTP_200=schemas.OperationsOut), tags=["operations"])
def migrate_instance(instance_id: int):
    body = request.context.json
    instance = version_migration.migrate_instance(instance_id, body.to_version, body.mapping, user=current_user,
                                                  reason=body.reason)
    return jsonify(operations.state_dict(instance))


@bp.post("/migrations/preview")
@api_spec.validate(json=schemas.BatchBody, resp=_responses(HTTP_200=schemas.MigrationPreviewOut),
                   tags=["operations"])
def preview_migration():
    """What a plan would do to each matching open escalation (nothing changes)."""
    body = request.context.json
    target, previews = version_migration.preview_batch(body.protocol, body.to_version, body.mapping,
                                                       _batch_filters(body), user=current_user)
    return jsonify({"protocol": body.protocol, "to_version": target.version,
                    "instances": [version_migration.preview_dict(p) for p in previews]})


@bp.post("/migrations")
@api_spec.validate(json=schemas.BatchBody, resp=_responses(HTTP_201=schemas.BatchOut), tags=["operations"])
def create_migration():
    """Check the plan against every matching escalation and queue them as a batch (run it with
    POST /api/migrations/<id>/run or ``flask migrations run``)."""
    body = request.context.json
    batch = version_migration.create_batch(body.protocol, body.to_version, body.mapping, _batch_filters(body),
                                           user=current_user, reason=body.reason)
    return jsonify(version_migration.batch_dict(batch)), 201


@bp.get("/migrations/<int:batch_id>")
@api_spec.validate(resp=_responses(HTTP_200=schemas.BatchOut), tags=["operations"])
def get_migration(batch_id: int):
    batch = version_migration.get_batch(batch_id)
    version_migration.require_migrator(current_user, batch.protocol_key)
    return jsonify(version_migration.batch_dict(batch))


@bp.post("/migrations/<int:batch_id>/run")
@api_spec.validate(query=schemas.BatchRunQuery, resp=_responses(HTTP_200=schemas.BatchOut), tags=["operations"])
def run_migration(batch_id: int):
    batch = version_migration.get_batch(batch_id)
    version_migration.require_migrator(current_user, batch.protocol_key)
    batch = version_migration.run_batch(batch_id, request.context.query.limit)
    return jsonify(version_migration.batch_dict(batch))


# -- data protection (issue 18) -------------------------------------------------------------------------------

@bp.get("/instances/<int:instance_id>/access-log")
@api_spec.validate(resp=_responses(HTTP_200=schemas.AccessLogOut), tags=["data protection"])
def get_access_log(instance_id: int):
    """Everyone who viewed the escalation, oldest first (the protocol's process owners and data protection
    officers only)."""
    instance = instances.get_instance(instance_id)
    access_log.require_read_log(current_user, instance)
    return jsonify({"instance": instance.id, "views": [access_log.to_dict(e) for e in access_log.views_of(instance.id)]})


@bp.get("/subject-access")
@api_spec.validate(query=schemas.SubjectQuery, resp=_responses(HTTP_200=schemas.SubjectAccessOut),
                   tags=["data protection"])
def get_subject_access():
    """Everything held about a child's case or a person, across every escalation (data protection officers
    only; each escalation in it is logged as viewed by this export)."""
    from workflow_app.services import subject_access
    query = request.context.query
    return jsonify(subject_access.export(subject_access.Subject(query.kind, query.q), user=current_user))


@bp.get("/deliveries")
@api_spec.validate(query=schemas.DeliveriesQuery, resp=_responses(HTTP_200=schemas.DeliveriesOut),
                   tags=["operations"])
def list_deliveries():
    """The delivery log: webhook and e-mail deliveries about the escalations of the protocols the caller owns
    (administrators: all), newest first."""
    if not deliveries.can_read(current_user):
        access.refuse(current_user, "read deliveries", "deliveries",
                      "The delivery log is for process owners and administrators.")
    query = request.context.query
    items = deliveries.deliveries(current_user, status=query.status, channel=query.channel,
                                  instance_id=query.instance, limit=query.limit)
    return jsonify({"deliveries": [deliveries.to_dict(d) for d in items]})


def _batch_filters(body) -> dict:
    return {k: v for k, v in {"from_version": body.from_version, "status": body.status, "case": body.case}.items()
            if v is not None}
