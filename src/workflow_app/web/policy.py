"""Policy teams' pages: the versions of every protocol, and upload → validate → review changes → deploy."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from workflow_app.extensions import db
from workflow_app.services import access, deployments, version_migration
from workflow_app.services.errors import DeploymentFailed, InvalidInput

bp = Blueprint("policy", __name__)
MAX_FILE_BYTES = 2 * 1024 * 1024


@bp.before_request
def policy_editors_only():
    if request.endpoint in MIGRATION_PAGES:  # process owners too: version_migration.require_migrator checks
        return
    if not access.can_deploy(current_user):
        access.refuse(current_user, "deploy diagrams", request.path, "Only policy editors can deploy diagrams.")


@bp.get("/deployments")
def versions():
    return render_template("deployments.html", versions=deployments.versions())


@bp.get("/deployments/<key>/model")
def modeller(key: str):
    """The in-browser modeller, opened on the running version; Save sends the files to the review page."""
    running = deployments.require_latest(key)
    return render_template("modeller.html", running=running)


def _read_upload() -> tuple[str, str, dict[str, str]]:
    """(BPMN file name, BPMN text, {other file name: text}) from the upload form, or DeploymentFailed.

    The other files are decision tables (.dmn) and Camunda Forms (.form), chosen in either file field."""
    bpmn = request.files.get("bpmn")
    if bpmn is None or not bpmn.filename:
        raise DeploymentFailed("Choose the BPMN file to deploy", [{"file": None, "message": "no BPMN file chosen"}])
    files = [bpmn, *[f for key in ("dmn", "form") for f in request.files.getlist(key) if f.filename]]
    texts = {}
    for upload in files:
        data = upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise DeploymentFailed(f"{upload.filename} is larger than 2 MiB", [])
        try:
            texts[upload.filename] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise DeploymentFailed(f"{upload.filename} is not UTF-8 text: is it a BPMN, DMN or form file?", []) from None
    bpmn_name = bpmn.filename
    return bpmn_name, texts.pop(bpmn_name), texts


def _from_hidden_fields() -> tuple[str, str, dict[str, str]]:
    names = request.form.getlist("dmn_name")
    texts = request.form.getlist("dmn_xml")
    return request.form["bpmn_name"], request.form["bpmn_xml"], dict(zip(names, texts))


@bp.route("/deployments/new", methods=["GET", "POST"])
def upload():
    if request.method == "GET":
        return render_template("deployment_upload.html")
    comment = request.form.get("comment", "")
    create_roles = request.form.get("create_roles") == "on"
    try:
        if "bpmn_xml" in request.form:  # the modeller (or a re-submitted preview) sends the XML itself
            bpmn_name, bpmn_xml, dmn_files = _from_hidden_fields()
        else:
            bpmn_name, bpmn_xml, dmn_files = _read_upload()
        return _preview(bpmn_name, bpmn_xml, dmn_files, comment, create_roles)
    except DeploymentFailed as exc:
        return render_template("deployment_upload.html", problems=exc.problems or [{"message": exc.message}],
                               error=exc.message, comment=comment), 422


def _preview(bpmn_name: str, bpmn_xml: str, dmn_files: dict[str, str], comment: str, create_roles: bool):
    bundle = deployments.validate(bpmn_name, bpmn_xml, dmn_files, create_roles=create_roles)
    running = deployments.latest_deployment(bundle.process_id)
    changes = deployments.diff(running.bpmn_xml if running else None, bpmn_xml,
                               running.dmn_files if running else None, dmn_files)
    same = running is not None and (running.content_hash == deployments.content_hash(bpmn_xml, dmn_files)
                                    or deployments.same_content(running, bpmn_xml, dmn_files))
    ignored = deployments.ignored_settings(bpmn_name, bpmn_xml)
    return render_template("deployment_preview.html", bundle=bundle, running=running, changes=changes, same=same,
                           ignored=ignored,
                           bpmn_name=bpmn_name, bpmn_xml=bpmn_xml, dmn_files=dmn_files, comment=comment,
                           create_roles=create_roles, content_hash=deployments.content_hash(bpmn_xml, dmn_files))


@bp.post("/deployments/confirm")
def confirm():
    bpmn_name, bpmn_xml, dmn_files = _from_hidden_fields()
    create_roles = request.form.get("create_roles") == "on"
    try:
        result = deployments.deploy(bpmn_name, bpmn_xml, dmn_files, actor=current_user.username,
                                    comment=request.form.get("comment", ""), create_roles=create_roles)
    except DeploymentFailed as exc:
        db.session.rollback()
        return render_template("deployment_upload.html", problems=exc.problems or [{"message": exc.message}],
                               error=exc.message), 422
    db.session.commit()
    d = result.deployment
    if result.created:
        flash(f"{d.name}: version {d.version} deployed. New escalations use it; running ones keep their version.", "info")
    else:
        flash(f"{d.name}: these files are already version {d.version}; nothing was deployed.", "info")
    return redirect(url_for("policy.versions"))


# -- migration plans: move a protocol's open escalations to another deployed version (services/version_migration.py)

MIGRATION_PAGES = ("policy.migration_plan", "policy.migration_batch")
FILTERS = ("from_version", "status", "element")


def _plan_form() -> tuple[int | None, dict[str, str], dict[str, str]]:
    """(target version, mapping, filters) from the plan form (GET arguments or POST fields)."""
    values = request.values
    version = values.get("to_version", type=int)
    mapping = {k[len("map-"):]: v for k, v in values.items() if k.startswith("map-")}
    filters = {k: values[k] for k in FILTERS if values.get(k)}
    return version, mapping, filters


@bp.route("/deployments/<key>/migrate", methods=["GET", "POST"])
def migration_plan(key: str):
    """Pick the target version, map what it lacks, choose which open escalations, preview, start a batch (the
    worker then moves them; the batch page shows its progress)."""
    version, mapping, filters = _plan_form()
    error = None
    if request.method == "POST" and request.form.get("action") == "start":
        try:
            batch = version_migration.create_batch(key, version, mapping, filters, user=current_user,
                                                   reason=request.form.get("reason", ""))
        except InvalidInput as exc:
            db.session.rollback()
            error = "; ".join([exc.message, *exc.field_errors.values()])
        else:
            flash(f"Migration batch {batch.id} started: {len(batch.items)} escalation(s) will move to version "
                  f"{batch.target.version}.", "info")
            return redirect(url_for("policy.migration_batch", key=key, batch_id=batch.id))
    try:
        page = version_migration.plan_page(key, version, mapping, filters, user=current_user)
    except InvalidInput as exc:
        page, error = version_migration.plan_page(key, version, {}, filters, user=current_user), exc.message
    batches = version_migration.batches_of(key)
    return render_template("operations/migrate.html", page=page, filters=filters, error=error,
                           reason=request.form.get("reason", ""), batches=batches), 422 if error else 200


@bp.get("/deployments/<key>/migrations/<int:batch_id>")
def migration_batch(key: str, batch_id: int):
    """A batch's progress: each escalation pending, migrated, skipped or failed."""
    batch = version_migration.get_batch(batch_id)
    version_migration.require_migrator(current_user, batch.protocol_key)
    if batch.protocol_key != key:
        return redirect(url_for("policy.migration_batch", key=batch.protocol_key, batch_id=batch_id))
    return render_template("operations/batch.html", batch=batch, summary=version_migration.batch_dict(batch))
