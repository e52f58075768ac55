"""Data protection pages: who viewed an escalation, disposals and legal holds, subject access, rectification.

Data protection officers use all of it; a protocol's process owners see the access log of its escalations.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user

from workflow_app.extensions import db
from workflow_app.services import access_log, instances, people, rectification, retention, subject_access
from workflow_app.services.errors import Conflict, InvalidInput, NotFound

bp = Blueprint("governance", __name__, url_prefix="/governance")


def _require_officer(action: str, target: str = "governance") -> None:
    retention.require_officer(current_user, action, target)


@bp.get("/")
def dashboard():
    _require_officer("open data protection page")
    return render_template("governance/dashboard.html", pending=retention.pending(), holds=retention.holds(),
                           recent=retention.recent(), kinds=subject_access.KINDS)


@bp.get("/instances/<int:instance_id>/access")
def instance_access(instance_id: int):
    instance = instances.get_instance(instance_id)
    access_log.require_read_log(current_user, instance)
    return render_template("governance/access.html", title=f"Who viewed escalation {instance.id}",
                           entries=access_log.views_of(instance.id), kinds=access_log.VIEW_KINDS, show_instance=False)


@bp.get("/people/<username>/access")
def person_access(username: str):
    _require_officer("read access log", username)
    person = people.get_user(username)
    return render_template("governance/access.html", title=f"Escalations viewed by {person.display_name}",
                           entries=access_log.views_by(person.username), kinds=access_log.VIEW_KINDS,
                           show_instance=True)


@bp.post("/disposals/<int:disposal_id>/approve")
def approve_disposal(disposal_id: int):
    try:
        disposal = retention.approve(disposal_id, user=current_user)
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(f"Escalation {disposal.instance_id}: {disposal.status}"
              f"{' (' + disposal.note + ')' if disposal.note else ''}.", "info")
    return redirect(url_for("governance.dashboard"))


@bp.post("/holds")
def place_hold():
    instance_id = int(request.form["instance"]) if request.form.get("instance", "").isdigit() else 0
    try:
        retention.place_hold(instance_id, request.form.get("reason", ""), user=current_user)
    except InvalidInput as exc:
        flash(next(iter(exc.field_errors.values()), exc.message), "error")
    except NotFound as exc:
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(f"Escalation {instance_id} is on legal hold: it will not be disposed of.", "info")
    return redirect(url_for("governance.dashboard"))


@bp.post("/instances/<int:instance_id>/release-hold")
def release_hold(instance_id: int):
    retention.release_hold(instance_id, user=current_user)
    db.session.commit()
    flash(f"The legal hold on escalation {instance_id} is released.", "info")
    return redirect(url_for("governance.dashboard"))


def _subject() -> subject_access.Subject:
    return subject_access.Subject(kind=request.args.get("kind") or "case", query=request.args.get("q") or "")


@bp.get("/subject-access")
def subject_search():
    _require_officer("subject access search")
    subject, found, errors = _subject(), [], {}
    if subject.query:
        try:
            found = subject_access.find(subject)
        except InvalidInput as exc:
            errors = exc.field_errors
    return render_template("governance/subject_search.html", subject=subject, found=found, errors=errors,
                           kinds=subject_access.KINDS)


@bp.get("/subject-access.<fmt>")
def subject_export(fmt: str):
    if fmt not in ("json", "html"):
        return redirect(url_for("governance.subject_search", **request.args))
    subject = _subject()
    document = subject_access.export(subject, user=current_user)
    name = f"subject-access-{subject.kind}-{''.join(c if c.isalnum() else '-' for c in subject.query)[:60]}"
    if fmt == "json":
        body = json.dumps(document, ensure_ascii=False, indent=2)
        return Response(body, mimetype="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}.json"'})
    body = render_template("governance/subject_export.html", document=document)
    return Response(body, mimetype="text/html", headers={"Content-Disposition": f'attachment; filename="{name}.html"'})


@bp.route("/instances/<int:instance_id>/rectify", methods=["GET", "POST"])
def rectify(instance_id: int):
    _require_officer("rectify", f"instance {instance_id}")
    instance = instances.get_instance(instance_id)
    errors, status = {}, 200
    if request.method == "POST":
        try:
            rectification.rectify(instance_id, int(request.form.get("entry") or 0), request.form.get("field", ""),
                                  request.form.get("value", ""), request.form.get("reason", ""), user=current_user)
        except InvalidInput as exc:
            errors, status = exc.field_errors, 400
            db.session.rollback()
            flash("Nothing was corrected: please see the fields marked below.", "error")
        else:
            db.session.commit()
            flash("The value is corrected; the escalation's history records why.", "info")
            return redirect(url_for("governance.rectify", instance_id=instance_id))
    access_log.record_view(instance, "rectify_page")
    return render_template("governance/rectify.html", instance=instance, errors=errors, form=request.form,
                           entries=rectification.correctable_entries(instance),
                           corrections=rectification.rectifications_of(instance.id)), status
