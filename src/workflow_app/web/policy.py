"""Policy teams' pages: the versions of every protocol, and upload → validate → review changes → deploy."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from workflow_app.extensions import db
from workflow_app.services import access, deployments
from workflow_app.services.errors import DeploymentFailed

bp = Blueprint("policy", __name__)
MAX_FILE_BYTES = 2 * 1024 * 1024


@bp.before_request
def policy_editors_only():
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
