"""``flask --app workflow_app ...`` commands: setup, deploy, timers, serve, demo-data."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import upgrade
from sqlalchemy import select
from werkzeug.serving import run_simple

from workflow_app.extensions import db
from workflow_app.persistence.models import ProcessInstance
from workflow_app.services import deployments, notifications, people, timers
from workflow_app.services.demo import create_demo_data, demo_summary
from workflow_app.services.errors import DeploymentFailed, InvalidInput, NotFound, ServiceError

timers_cli = AppGroup("timers", help="Fire due timers (deadlines, reminders).")
users_cli = AppGroup("users", help="Manage users and their API tokens.")
notifications_cli = AppGroup("notifications", help="Deliver queued e-mail; queue the daily digest.")
retention_cli = AppGroup("retention", help="Retention: list escalations due for disposal (daily), approve, hold.")


@retention_cli.command("list-due")
def retention_list_due() -> None:
    """List ended escalations past their retention period as disposals for a data protection officer to
    approve (run daily, e.g. from cron)."""
    from workflow_app.services import retention
    proposed = retention.list_due()
    db.session.commit()
    for disposal in retention.pending():
        click.echo(f"disposal {disposal.id}: escalation {disposal.instance_id} ({disposal.protocol_key}), ended "
                   f"{disposal.ended_at:%Y-%m-%d}, due {disposal.due_at:%Y-%m-%d} {disposal.note}".rstrip())
    click.echo(f"{len(proposed)} newly due; {len(retention.pending())} waiting for approval")


@retention_cli.command("approve")
@click.argument("disposal_id", type=int)
@click.option("--by", "username", required=True, help="The data protection officer approving (username).")
def retention_approve(disposal_id: int, username: str) -> None:
    """Dispose of one listed escalation (skipped while it is on legal hold)."""
    from workflow_app.services import retention
    disposal = _service_call(lambda: retention.approve(disposal_id, user=people.get_user(username)))
    db.session.commit()
    click.echo(f"escalation {disposal.instance_id}: {disposal.status} {disposal.note}".rstrip())


@retention_cli.command("hold")
@click.argument("instance_id", type=int)
@click.option("--reason", required=True)
@click.option("--by", "username", required=True, help="The data protection officer (username).")
def retention_hold(instance_id: int, reason: str, username: str) -> None:
    """Place an escalation on legal hold: it is never disposed of until the hold is released."""
    from workflow_app.services import retention
    _service_call(lambda: retention.place_hold(instance_id, reason, user=people.get_user(username)))
    db.session.commit()
    click.echo(f"escalation {instance_id} on legal hold")


@retention_cli.command("release")
@click.argument("instance_id", type=int)
@click.option("--by", "username", required=True, help="The data protection officer (username).")
def retention_release(instance_id: int, username: str) -> None:
    """Release an escalation's legal hold."""
    from workflow_app.services import retention
    _service_call(lambda: retention.release_hold(instance_id, user=people.get_user(username)))
    db.session.commit()
    click.echo(f"legal hold on escalation {instance_id} released")


@notifications_cli.command("send-once")
def notifications_send_once() -> None:
    """Send every queued e-mail that is due (retries back off after failures)."""
    result = notifications.deliver_pending()
    click.echo(f"sent {len(result.sent)}; retrying later {len(result.retrying)}; given up {len(result.failed)}")


@notifications_cli.command("digest")
def notifications_digest() -> None:
    """Queue each person's daily summary of tasks due in the next 2 working days (run once a day)."""
    click.echo(f"digests queued: {notifications.queue_digests()}")


def deploy_repository_diagrams(actor: str = "system (start-up)") -> list:
    results = deployments.deploy_directories(current_app.config["BPMN_DIR"], current_app.config["DMN_DIR"],
                                             actor=actor)
    db.session.commit()
    return results


@click.command("deploy")
@click.option("--comment", default="", help="Why this version is deployed.")
def deploy_command(comment: str) -> None:
    """Validate and deploy every diagram in bpmn/ (with the DMN files in dmn/ it uses)."""
    try:
        results = deployments.deploy_directories(current_app.config["BPMN_DIR"], current_app.config["DMN_DIR"],
                                                 actor="flask deploy", comment=comment)
        db.session.commit()
    except DeploymentFailed as exc:
        raise click.ClickException(exc.message) from None
    for result in results:
        d = result.deployment
        state = "deployed" if result.created else "unchanged"
        click.echo(f"{d.protocol_key}: version {d.version} {state}")


@click.command("setup")
@click.option("--demo/--no-demo", default=True, help="Create demo escalations when the database is empty.")
def setup_command(demo: bool) -> None:
    """Create or upgrade the database, deploy the repository's diagrams and add demo data."""
    upgrade(directory=current_app.extensions["migrate"].directory)
    try:
        for result in deploy_repository_diagrams():
            d = result.deployment
            click.echo(f"{d.protocol_key}: version {d.version} {'deployed' if result.created else 'unchanged'}")
    except DeploymentFailed as exc:
        raise click.ClickException(exc.message) from None
    if demo and db.session.scalar(select(ProcessInstance.id).limit(1)) is None:
        _echo_demo(create_demo_data())


@click.command("demo-data")
@click.option("--seed", default=2026, show_default=True, help="Random seed of the simulated year.")
def demo_data_command(seed: int) -> None:
    """Add a year of demo escalations, run by the engine under a moving clock (for trying the app)."""
    _echo_demo(create_demo_data(seed=seed))


def _echo_demo(created) -> None:
    summary = ", ".join(f"{count} {status}" for status, count in sorted(demo_summary(created).items()))
    click.echo(f"demo data: {len(created)} escalations created over the past year ({summary})")


@timers_cli.command("run-once")
@click.option("--limit", default=500, show_default=True, help="At most this many instances per run.")
def timers_run_once(limit: int) -> None:
    """Fire every timer that is due now, then exit (for cron)."""
    result = timers.run_once(limit=limit)
    click.echo(f"fired timers on {len(result.fired)} instance(s); {len(result.skipped)} skipped")


@timers_cli.command("worker")
@click.option("--interval", default=None, type=float, help="Seconds between sweeps (default: WORKFLOW_TIMER_SWEEP_SECONDS).")
@click.option("--limit", default=500, show_default=True, help="At most this many instances per sweep.")
@click.option("--max-sweeps", default=0, help="Stop after this many rounds, failed ones included (0: run until stopped).")
def timers_worker(interval: float | None, limit: int, max_sweeps: int) -> None:
    """Sweep due timers and deliver queued mail forever (production worker); stops on SIGTERM or Ctrl-C.

    Several workers may run at once, on one or many machines: each due timer fires exactly once. Database and
    SMTP errors are logged and retried with back-off (1 s doubling to 60 s); each round records a heartbeat
    that GET /api/health reports.
    """
    import signal
    import threading

    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    interval = interval if interval is not None else current_app.config["TIMER_SWEEP_SECONDS"] or 30
    click.echo(f"timer worker: sweeping every {interval:g}s")
    worker = timers.Worker(current_app._get_current_object(), interval, limit=limit, echo=click.echo)
    try:
        worker.run(stop, max_rounds=max_sweeps)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo("timer worker: stopped")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve_command(host: str, port: int) -> None:
    """Serve the app with the background timer sweep (development / single machine)."""
    app = current_app._get_current_object()
    interval = app.config["TIMER_SWEEP_SECONDS"]
    if interval > 0:
        timers.start_background_loop(app, interval)
        click.echo(f"timer sweep every {interval:g}s")
    # app.run() refuses to block inside a `flask` command, so start Werkzeug's server directly.
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@users_cli.command("create")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "display_name", default=None, help="Full name.")
@click.option("--agency", default=None)
@click.option("--role", "roles", multiple=True, help="Repeat for several roles.")
@click.option("--line-manager", default=None, help="Username of the line manager.")
@click.option("--owns", "protocols", multiple=True, help="Protocol key this process owner is responsible for.")
def users_create(username, password, display_name, agency, roles, line_manager, protocols) -> None:
    """Create a user."""
    try:
        user = people.create_user(username, password, display_name=display_name, agency=agency, roles=roles,
                                  line_manager=line_manager, protocols=protocols)
    except InvalidInput as exc:
        db.session.rollback()
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.field_errors.items())) from None
    db.session.commit()
    click.echo(f"created {user.username}")


@users_cli.command("list")
def users_list() -> None:
    """List users with agency and roles."""
    for user in people.list_users():
        roles = ", ".join(r.name for r in user.roles) or "-"
        state = "" if user.active else " (inactive)"
        click.echo(f"{user.username:<20} {user.display_name:<24} {user.agency.name if user.agency else '-':<40} {roles}{state}")


@users_cli.command("token")
@click.argument("username")
@click.option("--label", default="", help="What the token is for.")
def users_token(username: str, label: str) -> None:
    """Print a new personal API token for USERNAME (shown once; only its hash is kept)."""
    user = people.get_user(username, required=False)
    if user is None:
        raise click.ClickException(f"There is no user '{username}'")
    token, plain = people.issue_token(user, label)
    db.session.commit()
    click.echo(plain)


@users_cli.command("revoke-token")
@click.argument("token_id", type=int)
def users_revoke_token(token_id: int) -> None:
    """Revoke an API token by its number (see the user's admin page)."""
    try:
        token = people.revoke_token(token_id)
    except NotFound as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"token {token_id} of {token.user.username} revoked")


@users_cli.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_set_password(username: str, password: str) -> None:
    user = people.get_user(username, required=False)
    if user is None:
        raise click.ClickException(f"There is no user '{username}'")
    try:
        people.set_password(user, password)
    except InvalidInput as exc:
        raise click.ClickException(exc.field_errors["password"]) from None
    db.session.commit()
    click.echo(f"password of {username} changed")


# -- encryption at rest (persistence/encryption.py) -----------------------------------------------------------

encryption_cli = AppGroup("encryption", help="Keys of the data encrypted at rest: status, rotate, new-key.")


@encryption_cli.command("new-key")
def encryption_new_key() -> None:
    """Print a new random Fernet key (put it first in WORKFLOW_ENCRYPTION_KEYS, then run `rotate`)."""
    from workflow_app.persistence import encryption
    click.echo(encryption.new_key())


@encryption_cli.command("status")
def encryption_status() -> None:
    """Per encrypted column: values under the newest key, under older keys, and readable by no key."""
    from workflow_app.persistence import encryption
    ring = _keyring()
    click.echo(f"keys: {', '.join(encryption.fingerprint(k) for k in ring.keys)} (newest first)"
               + (" - development key derived from SECRET_KEY" if ring.development else ""))
    with db.engine.connect() as connection:
        report = encryption.status(connection, db.metadata, ring)
    for column in report:
        click.echo(f"{column.name:<34} newest {column.newest:>7}  older {column.older:>7}  "
                   f"unreadable {column.unreadable:>5}  empty {column.empty:>7}")
    older, unreadable = sum(c.older for c in report), sum(c.unreadable for c in report)
    click.echo("all values are under the newest key; older keys can be removed" if not older and not unreadable
               else f"{older} value(s) under older keys (run `encryption rotate`), {unreadable} readable by no key")


@encryption_cli.command("rotate")
@click.option("--batch", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Rows per transaction.")
def encryption_rotate(batch: int) -> None:
    """Re-encrypt every value under an older key with the newest key (idempotent: run again after a stop)."""
    from workflow_app.persistence import encryption
    ring = _keyring()
    rotated = encryption.rotate(db.engine, db.metadata, ring, batch=batch)
    for name, count in rotated.items():
        click.echo(f"{name:<34} re-encrypted {count}")
    click.echo(f"{sum(rotated.values())} value(s) re-encrypted with the newest key; "
               "check `encryption status` before removing an old key")


def _keyring():
    from workflow_app.persistence import encryption
    try:
        return encryption.init_app(current_app)
    except encryption.EncryptionError as error:
        raise click.ClickException(str(error)) from None


# -- operating running escalations (services/operations.py, services/version_migration.py) ---------------

escalations_cli = AppGroup("escalations", help="Suspend, resume, retry, move back or migrate one running escalation.")
migrations_cli = AppGroup("migrations", help="Move open escalations to another version of their protocol.")


def _operator(username: str):
    user = people.get_user(username, required=False)
    if user is None:
        raise click.ClickException(f"There is no user '{username}' (--by names who acts; it is kept in history)")
    return user


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise click.ClickException(f"--map takes OLD_ID=NEW_ID, not '{pair}'")
        mapping[old.strip()] = new.strip()
    return mapping


def _service_call(action):
    try:
        return action()
    except InvalidInput as exc:
        raise click.ClickException("; ".join([exc.message, *(f"{k}: {v}" for k, v in exc.field_errors.items())])) \
            from None
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None


_by = click.option("--by", "username", required=True, help="Username of the process owner or administrator acting.")


@escalations_cli.command("suspend")
@click.argument("instance_id", type=int)
@click.option("--reason", required=True)
@_by
def escalations_suspend(instance_id: int, reason: str, username: str) -> None:
    """Suspend an escalation: no task completes and no timer fires until it is resumed."""
    from workflow_app.services import operations
    _service_call(lambda: operations.suspend(instance_id, reason, user=_operator(username)))
    click.echo(f"escalation {instance_id} suspended")


@escalations_cli.command("resume")
@click.argument("instance_id", type=int)
@click.option("--deadlines", type=click.Choice(["fire", "extend"]), required=True,
              help="Deadlines that fell due while suspended: fire now, or extend by the working days suspended.")
@_by
def escalations_resume(instance_id: int, deadlines: str, username: str) -> None:
    """Resume a suspended escalation."""
    from workflow_app.services import operations
    instance = _service_call(lambda: operations.resume(instance_id, deadlines, user=_operator(username)))
    click.echo(f"escalation {instance_id} resumed; next deadline {instance.next_timer_at or 'none'}")


@escalations_cli.command("retry")
@click.argument("instance_id", type=int)
@click.option("--reason", required=True)
@_by
def escalations_retry(instance_id: int, reason: str, username: str) -> None:
    """Run an escalation stopped by an error again from the step that failed (administrators)."""
    from workflow_app.services import operations
    instance = _service_call(lambda: operations.retry(instance_id, reason, user=_operator(username)))
    click.echo(f"escalation {instance_id} is {instance.status}")


@escalations_cli.command("move-back")
@click.argument("instance_id", type=int)
@click.option("--to", "element_id", required=True, help="Element id of a task the escalation has already passed.")
@click.option("--reason", required=True)
@_by
def escalations_move_back(instance_id: int, element_id: str, reason: str, username: str) -> None:
    """Move an escalation back to a task it has already passed; that task opens again, due afresh."""
    from workflow_app.services import operations
    instance = _service_call(lambda: operations.move_back(instance_id, element_id, reason,
                                                          user=_operator(username)))
    click.echo(f"escalation {instance_id} moved back; now at {instance.current_stage or 'no open task'}")


@escalations_cli.command("migrate")
@click.argument("instance_id", type=int)
@click.option("--to-version", type=int, default=None, help="Target version (default: the latest).")
@click.option("--map", "pairs", multiple=True, help="OLD_ID=NEW_ID for a renamed element; repeat.")
@click.option("--reason", default="")
@_by
def escalations_migrate(instance_id: int, to_version, pairs, reason: str, username: str) -> None:
    """Move one escalation to another version of its protocol."""
    from workflow_app.services import version_migration
    instance = _service_call(lambda: version_migration.migrate_instance(
        instance_id, to_version, _mapping(pairs), user=_operator(username), reason=reason))
    click.echo(f"escalation {instance_id} now runs version {instance.deployment.version}")


def _batch_options(command):
    for option in reversed([
        click.argument("protocol"),
        click.option("--to-version", type=int, default=None, help="Target version (default: the latest)."),
        click.option("--map", "pairs", multiple=True, help="OLD_ID=NEW_ID for a renamed element; repeat."),
        click.option("--from-version", type=int, default=None, help="Only escalations running this version."),
        click.option("--status", type=click.Choice(["running", "error"]), default=None),
        _by,
    ]):
        command = option(command)
    return command


def _filters(from_version, status) -> dict:
    return {k: v for k, v in {"from_version": from_version, "status": status}.items() if v is not None}


@migrations_cli.command("preview")
@_batch_options
def migrations_preview(protocol, to_version, pairs, from_version, status, username) -> None:
    """What a plan does to each matching open escalation; nothing changes."""
    from workflow_app.services import version_migration
    target, previews = _service_call(lambda: version_migration.preview_batch(
        protocol, to_version, _mapping(pairs), _filters(from_version, status), user=_operator(username)))
    click.echo(f"{len(previews)} escalation(s) would move to version {target.version}")
    for p in previews:
        moves = "; ".join(f"{t['from']} -> {t['to']} (due {t['due_at'] or '-'})" for t in p.open_tasks) or "-"
        click.echo(f"  {p.instance_id} v{p.from_version}: " + (moves if p.ok else "CANNOT MOVE: " + ", ".join(p.unmapped)))


@migrations_cli.command("start")
@_batch_options
@click.option("--reason", default="")
def migrations_start(protocol, to_version, pairs, from_version, status, username, reason) -> None:
    """Check the plan and queue a batch (then: flask migrations run)."""
    from workflow_app.services import version_migration
    batch = _service_call(lambda: version_migration.create_batch(
        protocol, to_version, _mapping(pairs), _filters(from_version, status), user=_operator(username),
        reason=reason))
    click.echo(f"batch {batch.id}: {len(batch.items)} escalation(s) to move to version {batch.target.version}")


@migrations_cli.command("run")
@click.option("--batch", "batch_id", type=int, default=None, help="One batch (default: every unfinished one).")
@click.option("--limit", type=int, default=None, help="Move at most this many escalations per batch.")
def migrations_run(batch_id, limit) -> None:
    """Move the pending escalations of unfinished batches; safe to run again after an interruption."""
    from workflow_app.persistence.models import MigrationBatch
    from workflow_app.services import version_migration
    ids = [batch_id] if batch_id else list(db.session.scalars(
        select(MigrationBatch.id).where(MigrationBatch.status != "done").order_by(MigrationBatch.id)))
    for one in ids:
        out = version_migration.batch_dict(_service_call(lambda: version_migration.run_batch(one, limit)))
        counts = ", ".join(f"{k} {v}" for k, v in sorted(out["counts"].items()))
        click.echo(f"batch {one}: {out['status']} ({counts})")


def register_cli(app: Flask) -> None:
    for command in (deploy_command, setup_command, demo_data_command, serve_command):
        app.cli.add_command(command)
    app.cli.add_command(timers_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(retention_cli)
    app.cli.add_command(encryption_cli)
    app.cli.add_command(escalations_cli)
    app.cli.add_command(migrations_cli)
