"""People: agencies, roles, users, passwords and personal API tokens."""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from flask import current_app
from limits import parse as parse_limit
from sqlalchemy import delete, func, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from workflow_app import clock
from workflow_app.extensions import db
from workflow_app.persistence.models import Agency, ApiToken, AuditEntry, LoginFailure, Role, User
from workflow_app.services.errors import InvalidInput, NotFound

# Roles the application itself uses; lane roles come from the deployed diagrams.
PROCESS_OWNER = "Process Owner"
POLICY_EDITOR = "Policy Editor"
ADMINISTRATOR = "Administrator"
DATA_PROTECTION_OFFICER = "Data Protection Officer"
SYSTEM_ROLES = {
    PROCESS_OWNER: "Reads every escalation and report of the protocols they own.",
    POLICY_EDITOR: "Deploys new versions of diagrams.",
    ADMINISTRATOR: "Manages users, roles and agencies.",
    DATA_PROTECTION_OFFICER: "Sees who viewed each escalation, approves disposals, answers subject access "
                             "requests and rectifies recorded data.",
}
MIN_PASSWORD_LENGTH = 10


def works_cases(user: User) -> bool:
    """Whether someone takes part in escalations (holds a protocol role), or holds no role at all yet; False for
    someone who only oversees (process owner, editor, administrator, data protection officer)."""
    names = set(user.role_names)
    return not names or bool(names - {r.casefold() for r in SYSTEM_ROLES})


def get_or_create_agency(name: str) -> Agency:
    name = name.strip()
    agency = db.session.scalar(select(Agency).where(func.lower(Agency.name) == name.lower()))
    if agency is None:
        agency = Agency(name=name)
        db.session.add(agency)
        db.session.flush()
    return agency


AGENCIES_KEY = "workflow_app.agencies_by_name"


def find_agency(name: str) -> Agency | None:
    """The agency called ``name`` (any case). Raising an escalation asks for the same two or three agencies several
    times (its start form's fields, both sides), so a transaction reads them once: the first lookup loads every
    agency (a short list), and the list is forgotten when the transaction ends."""
    session = db.session()
    by_name = session.info.get(AGENCIES_KEY)
    if by_name is None:
        by_name = session.info[AGENCIES_KEY] = {a.name.lower(): a for a in session.scalars(select(Agency))}
    return by_name.get(name.strip().lower())


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_soft_rollback")
@sa_event.listens_for(Session, "after_flush")
def _forget_agencies(session: Session, *_args) -> None:
    """An agency added, renamed or removed (a flush), or a transaction over: the next lookup reads them again."""
    session.info.pop(AGENCIES_KEY, None)


def get_or_create_role(name: str, description: str = "") -> Role:
    name = name.strip()
    role = db.session.scalar(select(Role).where(func.lower(Role.name) == name.lower()))
    if role is None:
        role = Role(name=name, description=description)
        db.session.add(role)
        db.session.flush()
    return role


def find_role(name: str) -> Role | None:
    return db.session.scalar(select(Role).where(func.lower(Role.name) == name.strip().lower()))


def ensure_roles(names: Iterable[str]) -> None:
    for name in {*SYSTEM_ROLES, *names}:
        get_or_create_role(name, SYSTEM_ROLES.get(name, ""))


def create_user(username: str, password: str, *, display_name: str | None = None, agency: str | None = None,
                roles: Iterable[str] = (), line_manager: str | None = None, email: str = "",
                protocols: Iterable[str] = ()) -> User:
    errors = {}
    username = username.strip().lower()
    if not username or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        errors["username"] = "Use letters, digits, dots, dashes or underscores"
    elif db.session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = f"'{username}' is already taken"
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"Use at least {MIN_PASSWORD_LENGTH} characters"
    manager = None
    if line_manager:
        manager = get_user(line_manager, required=False)
        if manager is None:
            errors["line_manager"] = f"No user '{line_manager}'"
    if errors:
        raise InvalidInput(errors, "The user was not created")
    user = User(username=username, display_name=(display_name or username).strip(), email=email,
                password_hash=_hash(password), created_at=clock.now(),
                agency=get_or_create_agency(agency) if agency else None, line_manager=manager,
                roles=[get_or_create_role(r) for r in roles])
    db.session.add(user)
    db.session.flush()
    set_protocols(user, protocols)
    return user


def set_protocols(user: User, protocols: Iterable[str]) -> None:
    from workflow_app.persistence.models import user_protocols
    db.session.execute(user_protocols.delete().where(user_protocols.c.user_id == user.id))
    for key in set(protocols):
        db.session.execute(user_protocols.insert().values(user_id=user.id, protocol_key=key))


def owned_protocols(user: User) -> set[str]:
    from workflow_app.persistence.models import user_protocols
    return set(db.session.scalars(select(user_protocols.c.protocol_key).where(user_protocols.c.user_id == user.id)))


def _hash(password: str) -> str:
    # scrypt by default; the test suite configures a cheaper method to stay fast.
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def get_user(username: str, *, required: bool = True) -> User | None:
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None and required:
        raise NotFound(f"There is no user '{username}'")
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.username)))


def authenticate(username: str, password: str) -> User | None:
    user = get_user(username or "", required=False)
    if user is None or not user.active or not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput({"password": f"Use at least {MIN_PASSWORD_LENGTH} characters"})
    user.password_hash = _hash(password)
    end_sessions(user)


def end_sessions(user: User) -> None:
    """Every session signed in before this stops working (logout, password change)."""
    user.session_epoch = (user.session_epoch or 0) + 1


# -- sign-in limit -----------------------------------------------------------------------------------
# Failed sign-ins are rows in the database, so every web process shares one count. The count is per
# username and client address: a client that guessed too often is refused (even with the right password)
# until the window passes, while the same account signs in from anywhere else.

def _limit(limit: str) -> tuple[int, timedelta]:
    item = parse_limit(limit)
    return item.amount, timedelta(seconds=item.get_expiry())


def _failure_key(username: str, client: str) -> tuple[str, str]:
    return (username or "").strip().lower()[:100], (client or "unknown")[:64]


def login_blocked(username: str, client: str, limit: str) -> bool:
    """True when ``client`` has used up its failed sign-ins for ``username`` within the limit's window."""
    amount, window = _limit(limit)
    name, address = _failure_key(username, client)
    since = clock.now() - window
    count = db.session.scalar(select(func.count(LoginFailure.id)).where(
        LoginFailure.username == name, LoginFailure.client == address, LoginFailure.at > since))
    return (count or 0) >= amount


def record_login_failure(username: str, client: str, limit: str) -> None:
    """Count a failed sign-in (in its own transaction) and forget failures older than the window."""
    _amount, window = _limit(limit)
    name, address = _failure_key(username, client)
    now = clock.now()
    db.session.rollback()
    db.session.execute(delete(LoginFailure).where(LoginFailure.at <= now - max(window, timedelta(days=1))))
    db.session.add(LoginFailure(username=name, client=address, at=now))
    db.session.commit()


def clear_login_failures(username: str, client: str) -> None:
    name, address = _failure_key(username, client)
    db.session.execute(delete(LoginFailure).where(LoginFailure.username == name, LoginFailure.client == address))


# -- API tokens --------------------------------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(user: User, label: str = "") -> tuple[ApiToken, str]:
    """A new token for ``user``; the plain token is returned once and never stored."""
    plain = "wfa_" + secrets.token_urlsafe(32)
    token = ApiToken(user=user, token_hash=_digest(plain), label=label, created_at=clock.now())
    db.session.add(token)
    db.session.flush()
    return token, plain


# How precisely a token's last use is recorded: at most one write a minute per token, so API reads stay reads.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def user_for_token(plain: str) -> User | None:
    # The person and their roles come with the token: every API request checks them.
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(plain))
                              .options(joinedload(ApiToken.user).joinedload(User.roles)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_RESOLUTION:
        token.last_used_at = now  # the caller commits; a read is not a write more than once a minute
    return token.user


def revoke_token(token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"There is no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
    return token


def tokens_of(user: User) -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def audit(actor: str | None, action: str, target: str | None, outcome: str, detail: str = "") -> None:
    """Write an audit row in its own transaction (it must survive the refused request's rollback)."""
    db.session.rollback()
    db.session.add(AuditEntry(at=clock.now(), actor=actor, action=action, target=target, outcome=outcome,
                              detail=detail))
    db.session.commit()
