"""Who may do what. Every rule about people and permissions lives here, for pages and API alike.

- A task's *candidates* hold the task's role (its lane) and, when the escalation names agencies,
  belong to one of them — or to no agency at all (partnership-wide staff). Only a candidate may claim or complete it, and only while it is unassigned
  or assigned to them.
- Staff see escalations they take part in: they raised it, acted on it, hold it, or could act on one
  of its tasks; line managers also see those of the people who report to them. Process owners see every escalation of the protocols they own; administrators see all.
- Supervisors (the assignee's line manager) and administrators reassign tasks.
"""
from __future__ import annotations

from sqlalchemy import and_, exists, false, not_, or_, select, true

from workflow_app.persistence.models import Deployment, ProcessInstance, TaskRecord, User, instance_agencies
from workflow_app.services import parties, people
from workflow_app.services.deployments import bundle_for
from workflow_app.services.errors import ServiceError


class Forbidden(ServiceError):
    status_code = 403


def is_admin(user: User) -> bool:
    return user.has_role(people.ADMINISTRATOR)


def owns_protocol(user: User, protocol_key: str) -> bool:
    return user.has_role(people.PROCESS_OWNER) and protocol_key in people.owned_protocols(user)


def can_deploy(user: User) -> bool:
    return user.has_role(people.POLICY_EDITOR)


def _in_instance_agencies(user: User, instance: ProcessInstance) -> bool:
    """Agency staff act on escalations between their agency and another; staff who belong to no agency
    (a partnership's business office, an LSCP, a quality assurance department) serve every agency."""
    return (not instance.agencies or user.agency_id is None
            or user.agency_id in {a.id for a in instance.agencies})


def is_candidate(user: User, record: TaskRecord) -> bool:
    """May ``user`` act on ``record``? A task of one side of a dispute (``party``) is for the person the
    organisation chain named (its assignee), or else for holders of its role in that side's own agency who
    have not already held another rung on that side; any other task, for holders of its role in the
    escalation's agencies (or in no agency)."""
    if not user.active:
        return False
    if record.party:
        if record.assigned_to_id == user.id:
            return True
        if not user.has_role(record.role) or parties.held_other_rung(user, record):
            return False
        if record.agency_id is not None:
            return user.agency_id == record.agency_id
    return user.has_role(record.role) and _in_instance_agencies(user, record.instance)


def role_holders(role: str | None, instance: ProcessInstance) -> list[User]:
    """Active people holding ``role`` who may act on ``instance`` (its agencies, or no agency)."""
    return [u for u in parties.holders_in_agency(role, None) if _in_instance_agencies(u, instance)]


def candidates(record: TaskRecord) -> list[User]:
    return role_holders(record.role, record.instance)


def can_see_instance(user: User, instance: ProcessInstance) -> bool:
    if is_admin(user) or owns_protocol(user, instance.protocol_key) or instance.started_by_id == user.id:
        return True
    # Those who took part, and their line managers (who oversee their staff's work).
    if any(user.id in (t.completed_by_id, t.assigned_to_id) for t in instance.tasks):
        return True  # the usual case, answered without loading the user's reports
    people_ids = {user.id, *(u.id for u in user.reports)}
    if instance.started_by_id in people_ids or any(
            people_ids & {t.completed_by_id, t.assigned_to_id} for t in instance.tasks):
        return True
    roles = {t.role.casefold() for t in instance.tasks if t.role}
    return bool(roles & user.role_names) and _in_instance_agencies(user, instance)


def require_see_instance(user: User, instance: ProcessInstance) -> None:
    if not can_see_instance(user, instance):
        refuse(user, "read instance", f"instance {instance.id}",
               "You do not take part in this escalation, so you cannot see it.")


def can_start(user: User, deployment: Deployment) -> bool:
    lanes = {lane.casefold() for lane in bundle_for(deployment).lanes}
    return bool(lanes & user.role_names) or is_admin(user)


def require_start(user: User, deployment: Deployment) -> None:
    if not can_start(user, deployment):
        refuse(user, "start instance", deployment.protocol_key,
               "None of your roles takes part in this protocol, so you cannot raise an escalation with it.")


def require_complete(user: User, record: TaskRecord) -> None:
    if not is_candidate(user, record):
        refuse(user, "complete task", f"task {record.id}", _why_not_candidate(record))
    if record.assigned_to_id not in (None, user.id):
        refuse(user, "complete task", f"task {record.id}",
               f"This task is assigned to {record.assigned_to.display_name}; ask them or their supervisor to "
               "release or reassign it.")


def _why_not_candidate(record: TaskRecord) -> str:
    if not record.party:
        return (f"This task is for the role '{record.role}' in the agencies of this escalation; "
                "you do not hold that role there, so you cannot complete it.")
    side = "raising side" if record.party == "raising" else "other side"
    agency = record.agency.name if record.agency else "that side's agency"
    holder = (f" It is assigned to {record.assigned_to.display_name}." if record.assigned_to
              else f" It is with {record.contact_name} (by e-mail)." if record.contact_email else "")
    return (f"This task is for the {side} of the dispute ({agency}), as '{record.role}'; you cannot complete "
            f"it for them.{holder}")


def can_reassign(user: User, record: TaskRecord) -> bool:
    if is_admin(user):
        return True
    assignee = record.assigned_to
    return assignee is not None and assignee.line_manager_id == user.id


def refuse(user: User | None, action: str, target: str, message: str) -> None:
    """Record the refused action in the audit log and stop with 403."""
    people.audit(user.username if user else None, action, target, "forbidden", message)
    raise Forbidden(message)


# -- inbox queries ---------------------------------------------------------------------------------

def _agency_clause(user: User):
    """The task's instance names no agencies, or names the user's agency (see _in_instance_agencies)."""
    no_agencies = not_(exists().where(instance_agencies.c.instance_id == TaskRecord.instance_id))
    if user.agency_id is None:
        return true()
    mine = exists().where(and_(instance_agencies.c.instance_id == TaskRecord.instance_id,
                               instance_agencies.c.agency_id == user.agency_id))
    return or_(no_agencies, mine)


def inbox_query(user: User, view: str):
    """Ready tasks for one of the inbox views: ``mine``, ``available`` (unassigned, for my roles), ``team``."""
    query = select(TaskRecord).where(TaskRecord.state == "ready")
    if view == "mine":
        return query.where(TaskRecord.assigned_to_id == user.id)
    if view == "team":
        reports = [u.id for u in user.reports]
        return query.where(TaskRecord.assigned_to_id.in_(reports) if reports else false())
    roles = list(user.role_names)
    # A side's task is for its own agency; other tasks for the escalation's agencies (see is_candidate).
    agency_ok = or_(and_(TaskRecord.agency_id.is_(None), _agency_clause(user)),
                    TaskRecord.agency_id == user.agency_id if user.agency_id is not None else false())
    return query.where(TaskRecord.assigned_to_id.is_(None), TaskRecord.contact_email.is_(None),
                       TaskRecord.role_key.in_(roles) if roles else false(), agency_ok)


def visible_instances_clause(user: User):
    """SQL form of :func:`can_see_instance` (for lists; administrators need no clause)."""
    # Cheapest tests first: a database evaluates OR terms in order and stops at the first true one, so a
    # process owner's own protocols (a column test) spare the EXISTS look-ups on most rows of a long list.
    clauses = []
    if user.has_role(people.PROCESS_OWNER):
        owned = people.owned_protocols(user)
        if owned:
            clauses.append(ProcessInstance.protocol_key.in_(owned))
    people_ids = [user.id, *(u.id for u in user.reports)]
    took_part = exists().where(TaskRecord.instance_id == ProcessInstance.id,
                               or_(TaskRecord.completed_by_id.in_(people_ids), TaskRecord.assigned_to_id.in_(people_ids)))
    clauses += [ProcessInstance.started_by_id.in_(people_ids), took_part]
    roles = list(user.role_names)
    if roles:
        no_agencies = not_(exists().where(instance_agencies.c.instance_id == ProcessInstance.id))
        agency_ok = true() if user.agency_id is None else or_(no_agencies, exists().where(
            and_(instance_agencies.c.instance_id == ProcessInstance.id, instance_agencies.c.agency_id == user.agency_id)))
        has_role_task = exists().where(TaskRecord.instance_id == ProcessInstance.id, TaskRecord.role_key.in_(roles))
        clauses.append(and_(has_role_task, agency_ok))
    return or_(*clauses)
