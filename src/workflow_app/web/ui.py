"""HTML pages for staff and process owners."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from workflow_app.services import (access, access_log, deployments, instances, notifications, people, reports,
                                   views)
from workflow_app.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from workflow_app.web.presenters import set_page_zone

bp = Blueprint("ui", __name__)

INBOX_TITLES = {"mine": "My tasks", "available": "Available to me", "team": "My team's tasks"}


@bp.get("/")
def home():
    return redirect(landing_page(current_user))


def landing_page(user) -> str:
    """Where a person lands after signing in: staff (anyone holding a protocol role) on their inbox; otherwise
    administrators on the users, process owners on their dashboard, policy editors on the diagrams, data
    protection officers on the data protection pages."""
    if people.works_cases(user):
        return url_for("ui.inbox")
    for role, endpoint in ((people.ADMINISTRATOR, "admin.users"), (people.PROCESS_OWNER, "owners.dashboard"),
                           (people.POLICY_EDITOR, "policy.versions"),
                           (people.DATA_PROTECTION_OFFICER, "governance.dashboard")):
        if user.has_role(role):
            return url_for(endpoint)
    return url_for("ui.inbox")


@bp.get("/admin")
@bp.get("/admin/")
def admin_home():
    return redirect(url_for("admin.users"))


@bp.get("/inbox")
def inbox():
    view = request.args.get("view") or "mine"
    if view not in INBOX_TITLES:
        view = "mine"
    role = request.args.get("role") or None
    in_view = views.inbox(current_user, view)  # the view's tasks, loaded once; the role filter applies to them
    tasks = views.with_role(in_view, role)
    roles = sorted({t.role for t in in_view if t.role})
    counts = {**views.inbox_counts(current_user, [v for v in INBOX_TITLES if v != view]), view: len(in_view)}
    return render_template("inbox.html", tasks=tasks, roles=roles, role=role, view=view, views=INBOX_TITLES,
                           counts=counts)


@bp.get("/notices")
def notices():
    items = notifications.notices_of(current_user)
    unread = {n.id for n in items if n.read_at is None}
    notifications.mark_all_read(current_user)
    return render_template("notices.html", notices=items, new_ids=unread)


@bp.get("/protocols")
def protocols():
    startable = [d for d in deployments.latest_deployments() if access.can_start(current_user, d)]
    return render_template("protocols.html", deployments=startable)


@bp.route("/protocols/<key>/start", methods=["GET", "POST"])
def start(key: str):
    deployment = deployments.require_latest(key)
    access.require_start(current_user, deployment)
    set_page_zone(deployment)
    form = views.start_form(deployment)
    values, errors = prefilled_start_values(form, current_user), {}
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            instance = instances.start_instance(key, _form_values(form, values), user=current_user, from_html=True)
        except InvalidInput as exc:
            errors = exc.field_errors
            flash("The escalation was not started: please correct the fields marked below.", "error")
        else:
            flash(f"Escalation {instance.id} started.", "info")
            return redirect(url_for("ui.instance", instance_id=instance.id))
    return render_template("start.html", deployment=deployment, form=form, values=values, errors=errors,
                           dynamic_choices=instances.dynamic_choices(form)), (400 if errors else 200)


def prefilled_start_values(form, user) -> dict:
    """The signed-in person's agency, chosen already in the start form's field for the raising side's agency (or,
    on a form without one, in its agency field that is not the other side's); the person themself is the raiser."""
    if form is None or user.agency is None:
        return {}
    agency_fields = [f for f in form.fields if f.choices_from == "agencies"]
    own = [f for f in agency_fields if f.party_field == ("agency", "raising")]
    if not own:
        own = [f for f in agency_fields if f.party_field is None][:1]
    return {f.name: user.agency.name for f in own}


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
def task(task_id: str):
    record = instances.get_task(task_id)
    access.require_see_instance(current_user, record.instance)
    set_page_zone(record.instance.deployment)
    form = views.task_form(record)
    values, errors, status = {}, {}, 200
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            instances.complete_task(task_id, _form_values(form, values), user=current_user, from_html=True)
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
    access_log.record_view(record.instance, "task")  # the page shows the escalation's details and earlier stages
    return render_template("task.html", task=record, form=form, values=values, errors=errors,
                           documentation=views.task_documentation(record),
                           dynamic_choices=instances.dynamic_choices(form),
                           can_complete=access.is_candidate(current_user, record)
                           and record.assigned_to_id in (None, current_user.id),
                           can_reassign=access.can_reassign(current_user, record),
                           candidates=access.candidates(record)), status


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str):
    return _assignment(task_id, lambda: instances.claim_task(task_id, user=current_user), "You now hold this task.")


@bp.post("/tasks/<task_id>/release")
def release(task_id: str):
    return _assignment(task_id, lambda: instances.release_task(task_id, user=current_user),
                       "The task is released: anyone with its role can take it.")


@bp.post("/tasks/<task_id>/resend-link")
def resend_link(task_id: str):
    return _assignment(task_id, lambda: instances.resend_link(task_id, user=current_user),
                       "A new link was e-mailed; any earlier link for this task no longer works.")


@bp.post("/tasks/<task_id>/reassign")
def reassign(task_id: str):
    assignee = request.form.get("assignee", "")
    return _assignment(task_id, lambda: instances.reassign_task(task_id, assignee, user=current_user),
                       "The task is reassigned.")


def _assignment(task_id: str, action, done: str):
    try:
        action()
    except InvalidInput as exc:
        flash(next(iter(exc.field_errors.values()), exc.message), "error")
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash(done, "info")
    return redirect(url_for("ui.task", task_id=task_id))


@bp.get("/instances")
def instance_list():
    try:
        filters = reports.InstanceFilter.from_args(request.args)
        errors = {}
    except InvalidInput as exc:
        filters, errors = reports.InstanceFilter(), exc.field_errors
    page = reports.search(current_user, filters)
    return render_template("instances.html", page=page, filters=filters, errors=errors,
                           protocols=deployments.latest_deployments(), statuses=reports.STATUSES,
                           sorts=reports.SORTS, options=reports.filter_options(filters.protocol),
                           args={k: v for k, v in request.args.items() if k != "page"})


@bp.get("/instances/<int:instance_id>")
def instance(instance_id: int):
    record = instances.get_instance(instance_id)
    access.require_see_instance(current_user, record)
    access_log.record_view(record, "page")
    set_page_zone(record.deployment)
    show_deliveries = request.args.get("deliveries") == "show"
    entries, delivered = views.timeline(record, with_deliveries=show_deliveries)
    return render_template("instance.html", instance=record, timings=views.stage_timings(record), history=entries,
                           delivered=delivered, show_deliveries=show_deliveries)


@bp.get("/instances/<int:instance_id>/diagram.json")
def instance_diagram(instance_id: int):
    record = instances.get_instance(instance_id)
    access.require_see_instance(current_user, record)
    access_log.record_view(record, "diagram")
    return views.diagram_view(record)


@bp.post("/instances/<int:instance_id>/cancel")
def cancel(instance_id: int):
    try:
        instances.cancel_instance(instance_id, request.form.get("reason", ""), user=current_user)
    except InvalidInput as exc:
        flash(exc.field_errors.get("reason", exc.message), "error")
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash(f"Escalation {instance_id} cancelled.", "info")
    return redirect(url_for("ui.instance", instance_id=instance_id))


def _form_values(form, submitted: dict) -> dict:
    """HTML checkboxes send nothing when unticked; repeating sections arrive as one input per cell."""
    values = {k: v for k, v in submitted.items() if k != "csrf_token"}
    for field in (form.fields if form else ()):
        if field.type == "boolean":
            values[field.name] = "true" if submitted.get(field.name) else "false"
        elif field.type == "table":
            values[field.name] = _table_rows(field, values)
    return values


def _table_rows(field, values: dict) -> list[dict]:
    """Rows of a repeating section, sent as ``<field>-<row>-<column>`` inputs (removed from ``values``)."""
    rows: dict[int, dict] = {}
    prefix = f"{field.name}-"
    for key in [k for k in values if k.startswith(prefix)]:
        index, _, column = key[len(prefix):].partition("-")
        value = values.pop(key)
        if index.isdigit() and column:
            rows.setdefault(int(index), {})[column] = value
    return [rows[i] for i in sorted(rows)]


@bp.app_errorhandler(NotFound)
def not_found(exc: NotFound):
    if request.path.startswith("/api/"):
        return {"error": exc.message}, 404
    return render_template("error.html", title="Not found", message=exc.message), 404


@bp.app_errorhandler(ServiceError)
def service_error(exc: ServiceError):
    if request.path.startswith("/api/"):
        return {"error": exc.message}, exc.status_code
    title = "Not allowed" if exc.status_code == 403 else "Something needs attention"
    return render_template("error.html", title=title, message=exc.message), exc.status_code


@bp.app_errorhandler(404)
def page_not_found(_exc):
    if request.path.startswith("/api/"):
        return {"error": "No such API endpoint"}, 404
    return render_template("error.html", title="Not found", message="There is no such page."), 404


@bp.app_errorhandler(429)
def too_many(exc):
    if request.path.startswith("/api/"):
        return {"error": str(exc.description)}, 429
    return render_template("login.html", username="", rate_limited=str(exc.description)), 429


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
