"""HTML pages for staff and process owners."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from workflow_app.services import deployments, instances
from workflow_app.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from workflow_app.web.actor import current_actor

bp = Blueprint("ui", __name__)


@bp.errorhandler(NotFound)
def not_found(exc: NotFound):
    return render_template("error.html", title="Not found", message=exc.message), 404


@bp.get("/")
def home():
    return redirect(url_for("ui.inbox"))


@bp.post("/actor")
def set_actor():
    name = (request.form.get("actor") or "").strip()
    if not name:
        flash("Enter your name so history can record who did what.", "error")
    else:
        session["actor"] = name[:200]
        flash(f"You are working as {session['actor']}.", "info")
    return redirect(request.form.get("next") or url_for("ui.inbox"))


@bp.get("/inbox")
def inbox():
    role = request.args.get("role") or None
    tasks = instances.ready_tasks(role=role)
    roles = sorted({t.role for t in instances.ready_tasks() if t.role})
    return render_template("inbox.html", tasks=tasks, roles=roles, role=role)


@bp.get("/protocols")
def protocols():
    return render_template("protocols.html", deployments=deployments.latest_deployments())


@bp.route("/protocols/<key>/start", methods=["GET", "POST"])
def start(key: str):
    deployment = deployments.require_latest(key)
    form = instances.start_form(deployment)
    values, errors = {}, {}
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            instance = instances.start_instance(key, _form_values(form, values), actor=current_actor(),
                                                from_html=True)
        except InvalidInput as exc:
            errors = exc.field_errors
            flash("The escalation was not started: please correct the fields marked below.", "error")
        else:
            flash(f"Escalation {instance.id} started.", "info")
            return redirect(url_for("ui.instance", instance_id=instance.id))
    return render_template("start.html", deployment=deployment, form=form, values=values, errors=errors), \
        (400 if errors else 200)


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
def task(task_id: str):
    record = instances.get_task(task_id)
    form = instances.task_form(record)
    values, errors, status = {}, {}, 200
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            instances.complete_task(task_id, _form_values(form, values), actor=current_actor(), from_html=True)
        except InvalidInput as exc:
            errors, status = exc.field_errors, 400
            flash("Nothing was saved: please correct the fields marked below.", "error")
        except Conflict as exc:
            flash(exc.message, "error")
            status = 409
            record = instances.get_task(task_id)
        else:
            flash(f"“{record.title}” completed.", "info")
            return redirect(url_for("ui.instance", instance_id=record.instance_id))
    return render_template("task.html", task=record, form=form, values=values, errors=errors,
                           documentation=instances.task_documentation(record)), status


@bp.get("/instances")
def instance_list():
    status = request.args.get("status") or None
    return render_template("instances.html", instances=instances.list_instances(status=status), status=status)


@bp.get("/instances/<int:instance_id>")
def instance(instance_id: int):
    return render_template("instance.html", instance=instances.get_instance(instance_id))


@bp.post("/instances/<int:instance_id>/cancel")
def cancel(instance_id: int):
    try:
        instances.cancel_instance(instance_id, request.form.get("reason", ""), actor=current_actor())
    except InvalidInput as exc:
        flash(exc.field_errors.get("reason", exc.message), "error")
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash(f"Escalation {instance_id} cancelled.", "info")
    return redirect(url_for("ui.instance", instance_id=instance_id))


def _form_values(form, submitted: dict) -> dict:
    """HTML checkboxes send nothing when unticked; everything else is passed through as typed."""
    submitted = {k: v for k, v in submitted.items() if k != "csrf_token"}
    values = submitted
    for field in (form.fields if form else ()):
        if field.type == "boolean":
            values[field.name] = "true" if submitted.get(field.name) else "false"
        elif field.type == "table":
            values[field.name] = _table_rows(field, submitted)
    return values


def _table_rows(field, submitted: dict) -> list[dict]:
    """Rows of a repeating section, sent as ``<field>-<row>-<column>`` inputs."""
    rows: dict[int, dict] = {}
    prefix = f"{field.name}-"
    for key, value in submitted.items():
        if not key.startswith(prefix):
            continue
        index, _, column = key[len(prefix):].partition("-")
        if index.isdigit() and column:
            rows.setdefault(int(index), {})[column] = value
    for key in [k for k in submitted if k.startswith(prefix)]:
        submitted.pop(key, None)
    return [rows[i] for i in sorted(rows)]


@bp.app_errorhandler(ServiceError)
def service_error(exc: ServiceError):
    return render_template("error.html", title="Something needs attention", message=exc.message), exc.status_code


@bp.app_errorhandler(404)
def page_not_found(_exc):
    if request.path.startswith("/api/"):
        return {"error": "No such API endpoint"}, 404
    return render_template("error.html", title="Not found", message="There is no such page."), 404


@bp.app_errorhandler(500)
def server_error(_exc):
    if request.path.startswith("/api/"):
        return {"error": "Something went wrong on the server; nothing was saved."}, 500
    return render_template("error.html", title="Something went wrong",
                           message="Something went wrong on the server; nothing was saved. The error has been logged."), 500


@bp.app_errorhandler(400)
def bad_request(exc):
    # Flask-WTF's CSRF failure lands here: a stale or forged form.
    if request.path.startswith("/api/"):
        return {"error": getattr(exc, "description", "Bad request")}, 400
    return render_template("error.html", title="This form has expired",
                           message="The page was open too long or was not sent from this site, so nothing was saved. "
                                   "Go back, reload the page and try again."), 400
