"""Operators' pages: the delivery log (webhook and e-mail deliveries from the outbox, services/deliveries.py)
and the instance page's operations panel (move an escalation back to an earlier task, services/operations.py).

The panel's choices reach ``templates/_instance_operations.html`` through the ``operations_panel`` template
helper, so the instance page's own view does not change."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from workflow_app.persistence.models import ProcessInstance
from workflow_app.services import access, deliveries, operations
from workflow_app.services.errors import Conflict, InvalidInput

bp = Blueprint("operations", __name__)


@bp.get("/deliveries")
def delivery_log():
    """Webhook and e-mail deliveries about the escalations of the protocols the reader owns."""
    if not deliveries.can_read(current_user):
        access.refuse(current_user, "read deliveries", "deliveries",
                      "The delivery log is for process owners and administrators.")
    status = request.args.get("status") or None
    channel = request.args.get("channel") or None
    instance_id = request.args.get("instance", type=int)
    try:
        items = deliveries.deliveries(current_user, status=status, channel=channel, instance_id=instance_id)
    except InvalidInput as exc:
        flash(exc.message, "error")
        status = channel = None
        items = deliveries.deliveries(current_user, instance_id=instance_id)
    return render_template("operations/deliveries.html", items=items, status=status, channel=channel,
                           instance_id=instance_id, statuses=deliveries.STATUSES)


@bp.post("/instances/<int:instance_id>/move-back")
def move_back(instance_id: int):
    try:
        instance = operations.move_back(instance_id, request.form.get("to", ""), request.form.get("reason", ""),
                                        user=current_user)
    except InvalidInput as exc:
        flash("; ".join([exc.message, *exc.field_errors.values()]), "error")
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash(f"Moved back to “{instance.current_stage or request.form.get('to')}”; its deadlines count from now.",
              "info")
    return redirect(url_for("ui.instance", instance_id=instance_id))


@dataclass
class OperationsPanel:
    """What the instance page's operations panel offers the signed-in person."""

    can_operate: bool = False
    can_read_deliveries: bool = False
    earlier_tasks: list = field(default_factory=list)


@bp.app_context_processor
def panel_helper() -> dict:
    def operations_panel(instance: ProcessInstance) -> OperationsPanel:
        if not current_user.is_authenticated:
            return OperationsPanel()
        can = operations.can_operate(current_user, instance)
        earlier = operations.earlier_tasks(instance) if can and instance.suspended_at is None else []
        return OperationsPanel(can_operate=can, can_read_deliveries=can and deliveries.can_read(current_user),
                               earlier_tasks=earlier)
    return {"operations_panel": operations_panel}
