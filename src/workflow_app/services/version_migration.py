"""Moving running escalations to another deployed version of their protocol.

A plan is the target version and a mapping of old element ids to new ones; an element the plan does not name
keeps its id. It is checked against each escalation before anything changes: an element the escalation has
been at or is at, with no counterpart in the target version, is listed and nothing moves. Migrating keeps the
open tasks (same task, same assignee) and their deadlines (same due date); history records the move.

Many escalations move as a batch: a ``MigrationBatch`` row and one ``MigrationBatchItem`` per escalation,
written together. The timer worker carries unfinished batches on every round (:func:`run_pending_batches`), so a
batch started in the UI or the API finishes by itself; ``flask migrations run`` and
``POST /api/migrations/<id>/run`` do the same on demand. Pending items move one transaction each, the item
claimed (row lock, skipping rows another worker holds) and marked in the same transaction as the escalation,
so a batch cut off halfway carries on where it stopped and no escalation is moved twice, however many workers
run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import logging

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from workflow_app import clock
from workflow_app.engine import EngineInstance
from workflow_app.engine import migration as engine_migration
from workflow_app.extensions import db
from workflow_app.persistence.models import (Deployment, MigrationBatch, MigrationBatchItem, ProcessInstance,
                                             TaskRecord, User)
from workflow_app.services import access, deployments, events, instances
from workflow_app.services.deployments import bundle_for
from workflow_app.services.errors import Conflict, InvalidInput, NotFound
from workflow_app.services.expressions import diagram_functions

OPEN_STATUSES = ("running", "error")
log = logging.getLogger(__name__)


def can_migrate(user: User, protocol_key: str) -> bool:
    """Process owners of the protocol, policy editors (who deploy its versions) and administrators."""
    return access.owns_protocol(user, protocol_key) or access.can_deploy(user) or access.is_admin(user)


def require_migrator(user: User, protocol_key: str) -> None:
    if not can_migrate(user, protocol_key):
        access.refuse(user, "migrate", protocol_key, "Only a process owner of this protocol, a policy editor or an "
                                                     "administrator can move escalations to another version.")


def target_deployment(protocol_key: str, version: int | None) -> Deployment:
    """The version to move to: ``version`` of the protocol, or its latest."""
    query = select(Deployment).where(Deployment.protocol_key == protocol_key)
    query = query.where(Deployment.version == version) if version else query.order_by(Deployment.version.desc())
    deployment = db.session.scalars(query.limit(1)).first()
    if deployment is None:
        raise NotFound(f"Protocol '{protocol_key}' has no version {version}" if version
                       else f"There is no protocol '{protocol_key}'")
    return deployment


@dataclass
class InstancePreview:
    """What a plan does to one escalation: where its open tasks go, or why it cannot move."""

    instance_id: int
    case_reference: str | None
    from_version: int
    open_tasks: list[dict[str, Any]] = field(default_factory=list)  # title, from element, to element, due_at
    unmapped: list[str] = field(default_factory=list)
    already_there: bool = False

    @property
    def ok(self) -> bool:
        return not self.unmapped


def preview(instance: ProcessInstance, target: Deployment, mapping: dict[str, str]) -> InstancePreview:
    result = InstancePreview(instance.id, instance.case_reference, instance.deployment.version)
    if instance.deployment_id == target.id:
        result.already_there = True
        return result
    check = engine_migration.check(instance.state, bundle_for(instance.deployment), bundle_for(target), mapping)
    result.unmapped = [f"{e} ('{bundle_for(instance.deployment).element_names.get(e, e)}')" for e in check.unmapped]
    names = bundle_for(target).element_names
    for record in instance.tasks:
        if record.state == "ready":
            to = engine_migration.new_name(record.element_id, mapping)
            result.open_tasks.append({"title": record.title, "from": record.element_id, "to": to,
                                      "to_title": names.get(to, to),
                                      "due_at": record.due_at.isoformat() if record.due_at else None})
    return result


def _clean_mapping(mapping: dict[str, str] | None) -> dict[str, str]:
    clean = {str(k).strip(): str(v).strip() for k, v in (mapping or {}).items() if str(k).strip()}
    empty = [k for k, v in clean.items() if not v]
    if empty:
        raise InvalidInput({"mapping": f"Name the new element id for: {', '.join(empty)}"}, "The plan is incomplete")
    return {k: v for k, v in clean.items() if k != v}


def _refusal(previews: list[InstancePreview]) -> InvalidInput:
    bad = [p for p in previews if not p.ok]
    lines = [f"escalation {p.instance_id}: {', '.join(p.unmapped)}" for p in bad[:20]]
    more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
    return InvalidInput({"mapping": "; ".join(lines) + more},
                        "Nothing was moved: these elements have no counterpart in the new version; map them to "
                        "elements of the new version")


def _move(instance: ProcessInstance, target: Deployment, mapping: dict[str, str], actor: str, reason: str) -> None:
    """Move one escalation (checked already); not committed."""
    old_bundle, new_bundle = bundle_for(instance.deployment), bundle_for(target)
    from_version = instance.deployment.version
    state = engine_migration.migrate(instance.state, old_bundle, new_bundle, mapping)
    engine = EngineInstance.load(new_bundle, state, diagram_functions(deployments.calendar_of(target)))
    now = clock.now()
    for record in instance.tasks:
        if record.state == "ready":
            record.element_id = engine_migration.new_name(record.element_id, mapping)
            record.title = new_bundle.element_names.get(record.element_id, record.element_id)
    instance.deployment = target
    events.publish(instance, "migrated", actor=actor, at=now,
                   data={"from_version": from_version, "to_version": target.version, "renamed": mapping,
                         "reason": reason})
    instances._apply(instance, engine)


@instances.concurrency_safe
def migrate_instance(instance_id: int, version: int | None, mapping: dict[str, str] | None, *, user: User,
                     reason: str = "") -> ProcessInstance:
    """Move one escalation to ``version`` (default: the latest) of its protocol."""
    instance = instances.get_instance(instance_id)
    access.require_see_instance(user, instance)
    require_migrator(user, instance.protocol_key)
    if instance.status not in OPEN_STATUSES:
        raise Conflict(f"This escalation is {instance.status}; only open escalations move to another version.")
    target = target_deployment(instance.protocol_key, version)
    mapping = _clean_mapping(mapping)
    result = preview(instance, target, mapping)
    if result.already_there:
        raise Conflict(f"This escalation already runs version {target.version}; nothing was changed.")
    if not result.ok:
        raise _refusal([result])
    _move(instance, target, mapping, user.username, (reason or "").strip())
    instances._commit()
    return instance


# -- batches ---------------------------------------------------------------------------------------

def matching_instances(protocol_key: str, target: Deployment, filters: dict[str, Any]) -> list[ProcessInstance]:
    """Open escalations of the protocol not yet on ``target``, narrowed by ``filters``: ``from_version``,
    ``status`` (running / error), ``case`` (case reference, exact), ``element`` (an open task at this element:
    a stage)."""
    query = (select(ProcessInstance).join(Deployment, ProcessInstance.deployment_id == Deployment.id)
             .where(ProcessInstance.protocol_key == protocol_key, ProcessInstance.deployment_id != target.id,
                    ProcessInstance.status.in_(OPEN_STATUSES)).order_by(ProcessInstance.id))
    if filters.get("from_version"):
        query = query.where(Deployment.version == int(filters["from_version"]))
    if filters.get("status"):
        query = query.where(ProcessInstance.status == filters["status"])
    if filters.get("case"):
        query = query.where(ProcessInstance.case_reference == filters["case"])
    if filters.get("element"):  # at a stage: an open task of this element
        query = query.where(ProcessInstance.id.in_(select(TaskRecord.instance_id).where(
            TaskRecord.state == "ready", TaskRecord.element_id == filters["element"])))
    return list(db.session.scalars(query))


def preview_batch(protocol_key: str, version: int | None, mapping: dict[str, str] | None,
                  filters: dict[str, Any] | None, *, user: User) -> tuple[Deployment, list[InstancePreview]]:
    require_migrator(user, protocol_key)
    target = target_deployment(protocol_key, version)
    mapping = _clean_mapping(mapping)
    return target, [preview(i, target, mapping) for i in matching_instances(protocol_key, target, filters or {})]


@dataclass
class PlanPage:
    """What the migration-plan page shows for one protocol: its versions, the chosen target, the elements the
    matching escalations have been at or are at with no counterpart in the target (they need an explicit
    mapping: ``choices`` are the target's elements), the stages open escalations are at (the filter), and the
    preview of each matching escalation under the plan as it stands."""

    protocol_key: str
    versions: list[Deployment]
    target: Deployment
    mapping: dict[str, str]
    to_map: dict[str, str]  # old element id -> its name, for elements the target lacks
    choices: dict[str, str]  # target element id -> name
    stages: dict[str, str]  # element id -> name of the open tasks of the protocol's open escalations
    previews: list[InstancePreview]

    @property
    def movable(self) -> int:
        return sum(1 for p in self.previews if p.ok and not p.already_there)


def plan_page(protocol_key: str, version: int | None, mapping: dict[str, str] | None, filters: dict[str, Any],
              *, user: User) -> PlanPage:
    require_migrator(user, protocol_key)
    versions = list(db.session.scalars(select(Deployment).where(Deployment.protocol_key == protocol_key)
                                       .order_by(Deployment.version.desc())))
    if not versions:
        raise NotFound(f"There is no protocol '{protocol_key}'")
    target = target_deployment(protocol_key, version)
    mapping = _clean_mapping({k: v for k, v in (mapping or {}).items() if v})  # an element left unmapped: none
    matching = matching_instances(protocol_key, target, filters)
    target_bundle = bundle_for(target)
    choices = {e: target_bundle.element_names.get(e, e) for e in engine_migration.element_ids(target_bundle)}
    to_map: dict[str, str] = {}
    for instance in matching:  # what the identity plan cannot map, escalation by escalation
        old = bundle_for(instance.deployment)
        for element in engine_migration.check(instance.state, old, bundle_for(target), {}).unmapped:
            to_map.setdefault(element, old.element_names.get(element, element))
    stages = dict(db.session.execute(
        select(TaskRecord.element_id, TaskRecord.title).join(ProcessInstance)
        .where(ProcessInstance.protocol_key == protocol_key, TaskRecord.state == "ready")
        .distinct().order_by(TaskRecord.title)).all())
    return PlanPage(protocol_key, versions, target, mapping, to_map, choices, stages,
                    [preview(i, target, mapping) for i in matching])


def create_batch(protocol_key: str, version: int | None, mapping: dict[str, str] | None,
                 filters: dict[str, Any] | None, *, user: User, reason: str = "") -> MigrationBatch:
    """Check the plan against every matching escalation, then write the batch and its items (nothing moves
    yet: see :func:`run_batch`). Refused, with what cannot map, if any escalation cannot move."""
    target, previews = preview_batch(protocol_key, version, mapping, filters, user=user)
    if any(not p.ok for p in previews):
        raise _refusal(previews)
    batch = MigrationBatch(protocol_key=protocol_key, target=target, mapping=_clean_mapping(mapping),
                           filters=dict(filters or {}), reason=(reason or "").strip(), status="pending",
                           created_by=user.username, created_at=clock.now())
    db.session.add(batch)
    for p in previews:
        batch.items.append(MigrationBatchItem(instance_id=p.instance_id, status="pending"))
    db.session.commit()
    return batch


def batches_of(protocol_key: str, limit: int = 20) -> list[MigrationBatch]:
    """The protocol's newest batches, newest first."""
    return list(db.session.scalars(select(MigrationBatch).where(MigrationBatch.protocol_key == protocol_key)
                                   .order_by(MigrationBatch.id.desc()).limit(limit)))


def get_batch(batch_id: int) -> MigrationBatch:
    batch = db.session.get(MigrationBatch, batch_id)
    if batch is None:
        raise NotFound(f"There is no migration batch number {batch_id}")
    return batch


def run_batch(batch_id: int, limit: int | None = None) -> MigrationBatch:
    """Move up to ``limit`` (default: all) pending items, each in its own transaction; the batch is done when
    none is left. Safe to run again, and from several processes at once (see :func:`_claim_next`)."""
    _run_items(batch_id, limit, BatchRound())
    return _update_batch_status(batch_id)


@dataclass
class BatchRound:
    """What one run did: items ``handled`` (migrated, skipped or failed), and items ``raced`` (the escalation
    changed by someone at the same moment; left pending for the next run)."""

    handled: int = 0
    raced: int = 0


def _run_items(batch_id: int, limit: int | None, result: BatchRound) -> None:
    tried: list[int] = []  # an item that lost a race stays pending for the next run, not this one
    while limit is None or len(tried) < limit:
        item = _claim_next(batch_id, tried)
        if item is None:
            db.session.rollback()  # end the claim's transaction
            break
        tried.append(item.id)
        if _run_item(item):
            result.handled += 1
        else:
            result.raced += 1


def _claim_next(batch_id: int, skip: list[int]) -> MigrationBatchItem | None:
    """The next pending item, locked for this transaction (``FOR UPDATE SKIP LOCKED``): another worker's query
    passes over it and takes the next one, and once the move commits the item is no longer pending, so no
    escalation is moved twice. A worker killed mid-item loses its connection and with it the lock: the item
    is pending again for the next round. (SQLite ignores the clause; it runs one writer at a time anyway.)"""
    query = (select(MigrationBatchItem)
             .where(MigrationBatchItem.batch_id == batch_id, MigrationBatchItem.status == "pending")
             .order_by(MigrationBatchItem.id).limit(1)
             .with_for_update(skip_locked=True, of=MigrationBatchItem)
             .execution_options(populate_existing=True))
    if skip:
        query = query.where(MigrationBatchItem.id.notin_(skip))
    return db.session.scalars(query).first()


def _update_batch_status(batch_id: int) -> MigrationBatch:
    batch = get_batch(batch_id)
    pending = db.session.scalar(select(MigrationBatchItem.id).where(
        MigrationBatchItem.batch_id == batch_id, MigrationBatchItem.status == "pending").limit(1))
    status = "running" if pending is not None else "done"
    if status == "done" and batch.finished_at is None:
        batch.finished_at = clock.now()
    if batch.status != status:
        batch.status = status
    db.session.commit()
    return batch


def _run_item(item: MigrationBatchItem) -> bool:
    """Move the claimed item's escalation (or say why not) and mark the item, in one transaction. False: it
    lost a race and stays pending."""
    batch, item_id, instance_id = item.batch, item.id, item.instance_id
    batch_id = batch.id
    instance = db.session.get(ProcessInstance, instance_id)
    try:
        if instance.deployment_id == batch.target_deployment_id:
            item.status, item.message = "skipped", "already on the target version"
        elif instance.status not in OPEN_STATUSES:
            item.status, item.message = "skipped", f"the escalation is {instance.status}"
        else:
            result = preview(instance, batch.target, batch.mapping)
            if not result.ok:
                item.status, item.message = "failed", "no counterpart for: " + ", ".join(result.unmapped)
            else:
                _move(instance, batch.target, batch.mapping, batch.created_by,
                      batch.reason or f"migration batch {batch.id}")
                item.status = "migrated"
        item.done_at = clock.now()
        instances._commit()
        return True
    except (Conflict, StaleDataError, IntegrityError):
        # changed by someone at the same moment: the item stays pending for the next run
        db.session.rollback()
        return False
    except DBAPIError:  # the database itself (down, restarting): the item stays pending; the worker backs off
        db.session.rollback()
        raise
    except Exception as exc:  # noqa: BLE001 - one escalation that cannot move must not stall the batch
        db.session.rollback()
        log.exception("migration batch %s: escalation %s could not move", batch_id, instance_id)
        _fail(item_id, f"{type(exc).__name__}: {exc}"[:1000])
        return True


def _fail(item_id: int, message: str) -> None:
    item = db.session.scalars(select(MigrationBatchItem).where(
        MigrationBatchItem.id == item_id, MigrationBatchItem.status == "pending")
        .with_for_update(skip_locked=True).execution_options(populate_existing=True)).first()
    if item is not None:
        item.status, item.message, item.done_at = "failed", message, clock.now()
    db.session.commit()


ITEMS_PER_ROUND = 50  # a worker round moves at most this many escalations, so timers and mail are not held up


def unfinished_batch_ids() -> list[int]:
    return list(db.session.scalars(select(MigrationBatch.id).where(MigrationBatch.status != "done")
                                   .order_by(MigrationBatch.id)))


def run_pending_batches(limit: int = ITEMS_PER_ROUND) -> BatchRound:
    """The worker's share of the batches (``flask timers worker`` calls this every round): move up to ``limit``
    pending items of the unfinished batches, oldest batch first. A batch started in the UI or the API is thus
    carried on without anyone running a command, and after a restart from where it stopped."""
    result = BatchRound()
    for batch_id in unfinished_batch_ids():
        if result.handled + result.raced >= limit:
            break
        _run_items(batch_id, limit - result.handled - result.raced, result)
        _update_batch_status(batch_id)
    return result


def batch_dict(batch: MigrationBatch) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for item in batch.items:
        counts[item.status] = counts.get(item.status, 0) + 1
    return {"id": batch.id, "protocol": batch.protocol_key, "to_version": batch.target.version,
            "mapping": batch.mapping, "filters": batch.filters, "reason": batch.reason, "status": batch.status,
            "created_by": batch.created_by, "created_at": batch.created_at.isoformat(),
            "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
            "counts": counts,
            "failed": [{"instance_id": i.instance_id, "message": i.message} for i in batch.items
                       if i.status == "failed"]}


def preview_dict(p: InstancePreview) -> dict[str, Any]:
    return {"instance_id": p.instance_id, "case_reference": p.case_reference, "from_version": p.from_version,
            "open_tasks": p.open_tasks, "unmapped": p.unmapped, "ok": p.ok}
