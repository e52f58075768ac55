"""Pages for a professional without an account: one task, reached through a signed, single-use e-mail link.

Nothing else is reachable from here: no navigation, no other task, no escalation list. The link is checked on
every request; a refused link (altered, expired, already used, task closed) gets a plain page and changes nothing.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request

from workflow_app.services import access_log, external_links, instances, views
from workflow_app.services.errors import Conflict, InvalidInput
from workflow_app.web.ui import _form_values

bp = Blueprint("respond", __name__)


@bp.route("/respond/<token>", methods=["GET", "POST"])
def respond(token: str):
    try:
        link_request = external_links.open_link(token)
    except external_links.LinkRefused as exc:
        return render_template("respond_refused.html", reason=exc.message), 410
    record = link_request.record
    form = views.task_form(record)
    values, errors, status = {}, {}, 200
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            instances.complete_by_link(token, _form_values(form, values), from_html=True)
        except InvalidInput as exc:
            errors, status = exc.field_errors, 400
        except (Conflict, external_links.LinkRefused) as exc:
            return render_template("respond_refused.html", reason=exc.message), 409
        else:
            return render_template("respond_done.html", task=record, name=link_request.link.contact_name)
    access_log.record_link_view(record.instance, link_request.link.id, link_request.link.contact_name)
    return render_template("respond.html", task=record, form=form, values=values, errors=errors,
                           name=link_request.link.contact_name, details=views.case_details(record.instance),
                           dynamic_choices={}, documentation=views.task_documentation(record)), status
