"""Free-text form data and contact details are ciphertext in the database (and in a pg_dump of it), plaintext
through the app, before and after a key rotation; a missing or wrong key is a clear error, never garbage."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from conftest import make_chain
from test_partnership_escalation import CSC, OTHER, PROTOCOL, RAISING, SCHOOL, START, raising
from workflow_app.extensions import db
from workflow_app.persistence import encryption
from workflow_app.persistence.models import ExternalLink, HistoryEntry, OutboxMessage, ProcessInstance, User

SECRET = "Quokka-7731 said the referral was closed too early"  # free text typed into the start form
CONTACT = "quokka.contact@health.example"  # the other side's contact, who has no account
EVIDENCE = "Wombat-4420 meeting notes"  # free text typed into a task form
KEY_1, KEY_2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _escalation(api) -> int:
    """An escalation raised with a free-text disagreement and an e-mail contact, Stage 1 recorded by the raiser."""
    make_chain(SCHOOL, RAISING)
    make_chain(CSC, OTHER)
    body = api.as_user("sam.patel").start(PROTOCOL, {**START, "disagreement": SECRET, "other_professional": "",
                                                     "other_contact_name": "Pat Doyle",
                                                     "other_contact_email": CONTACT})
    task = next(t for t in body["ready_tasks"] if t["name"] == "stage1_discussion")
    api.as_user("sam.patel").complete(task["id"], raising("unresolved", evidence_explored=EVIDENCE))
    return body["id"]


def _raw_database_bytes(app) -> bytes:
    """Everything SQLite holds on disk for the database (the file and its write-ahead log)."""
    path = Path(make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database)
    db.session.commit()
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def _raw(sql: str, **params):
    """Rows as the database holds them (plain SQL, no ORM types)."""
    with db.engine.connect() as connection:
        return connection.execute(text(sql), params).all()


def test_encrypted_fields_are_unreadable_in_the_database_and_readable_through_the_app(app, api):
    instance_id = _escalation(api)
    # Through the app: the escalation, its history and the e-mail contact read as typed.
    shown = api.as_user("sam.patel").instance(instance_id)
    assert shown["data"]["disagreement"] == SECRET
    assert any(h["data"].get("evidence_explored") == EVIDENCE for h in shown["history"])
    assert next(t for t in shown["ready_tasks"] if t["name"] == "stage1_acknowledge")["external_contact"] == {
        "name": "Pat Doyle", "email": CONTACT}
    assert db.session.scalar(select(User.email).where(User.username == "sam.patel")) == "sam.patel@example.org"
    # In the database: ciphertext in every encrypted column, none of the typed text anywhere.
    for table, column in (("instances", "state"), ("instances", "data"), ("external_links", "contact_email"),
                          ("tasks", "contact_email"), ("escalation_parties", "contact_email"),
                          ("outbox", "recipient_email"), ("outbox", "body"), ("users", "email")):
        values = [bytes(v) for (v,) in _raw(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")]
        assert values and all(encryption.is_ciphertext(v) or v == b"" for v in values), (table, column)
        assert any(values), (table, column)
    history = [bytes(v) for (v,) in _raw("SELECT data FROM history WHERE instance_id = :id", id=instance_id)]
    assert all(encryption.is_ciphertext(v) or v == b"" for v in history)
    if db.engine.dialect.name == "sqlite":
        raw = _raw_database_bytes(app)
        assert b"CASE-42" in raw  # the file holds the escalation (the case reference is plaintext by design)
        for typed in (SECRET, EVIDENCE, CONTACT, "sam.patel@example.org"):
            assert typed.encode() not in raw, typed


def test_mail_and_links_are_found_by_address_although_it_is_encrypted(app, api):
    instance_id = _escalation(api)
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient_email == CONTACT,
                                                             OutboxMessage.kind == "external_task")).one()
    assert message.instance_id == instance_id and "/respond/" in message.body
    assert db.session.scalars(select(ExternalLink).where(ExternalLink.contact_email == CONTACT)).one()
    # The same address is the same ciphertext (deterministic), so SQL equality works; free text is not.
    addresses = {bytes(v) for (v,) in _raw("SELECT contact_email FROM tasks WHERE contact_email IS NOT NULL")}
    assert len(addresses) == 1


def test_rotation_re_encrypts_everything_so_the_old_key_can_be_retired(app_factory, clock):
    first = app_factory(ENCRYPTION_KEYS=(KEY_1,))
    with first.app_context():
        from conftest import Api
        instance_id = _escalation(Api(first.test_client()))
        before = _raw("SELECT state FROM instances WHERE id = :id", id=instance_id)[0][0]
    # A new key in front: old values still read, new writes use the new key.
    both = app_factory(reset_db=False, deploy=False, ENCRYPTION_KEYS=(KEY_2, KEY_1))
    runner = both.test_cli_runner()
    status = runner.invoke(args=["encryption", "status"])
    assert status.exit_code == 0 and "under older keys" in status.output
    result = runner.invoke(args=["encryption", "rotate", "--batch", "3"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted with the newest key" in result.output
    assert "all values are under the newest key" in runner.invoke(args=["encryption", "status"]).output
    again = runner.invoke(args=["encryption", "rotate"])  # idempotent: nothing left to do
    assert again.output.splitlines()[-1].startswith("0 value(s) re-encrypted")
    # Only the new key now: everything reads, and the stored bytes changed.
    second = app_factory(reset_db=False, deploy=False, ENCRYPTION_KEYS=(KEY_2,))
    with second.app_context():
        after = _raw("SELECT state FROM instances WHERE id = :id", id=instance_id)[0][0]
        assert bytes(after) != bytes(before)
        instance = db.session.get(ProcessInstance, instance_id)
        assert instance.data["disagreement"] == SECRET
        assert any(h.data.get("evidence_explored") == EVIDENCE for h in instance.history)
        assert db.session.scalar(select(User.email).where(User.username == "jo.reed")) == "jo.reed@example.org"
        assert db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient_email == CONTACT)).all()
    # The retired key alone opens nothing: a clear error, not garbage.
    retired = app_factory(reset_db=False, deploy=False, ENCRYPTION_KEYS=(KEY_1,))
    with retired.app_context():
        with pytest.raises(encryption.EncryptionError, match="none of the 1 key"):
            db.session.get(ProcessInstance, instance_id).data  # noqa: B018
        db.session.rollback()


def test_a_missing_or_malformed_key_is_a_clear_error(app_factory, clock):
    app = app_factory(ENCRYPTION_KEYS=(KEY_1,))
    with app.app_context():
        from conftest import Api
        instance_id = _escalation(Api(app.test_client()))
    other = app_factory(reset_db=False, deploy=False, ENCRYPTION_KEYS=(KEY_2,))
    with other.app_context():
        with pytest.raises(encryption.EncryptionError, match="WORKFLOW_ENCRYPTION_KEYS"):
            db.session.scalar(select(HistoryEntry.data).where(HistoryEntry.instance_id == instance_id,
                                                               HistoryEntry.kind == "started"))
    # A malformed key stops the app from starting, in plain words (not at the first read of an encrypted column).
    with pytest.raises(encryption.EncryptionError, match="key 1 is not a Fernet key"):
        app_factory(reset_db=False, deploy=False, ENCRYPTION_KEYS=("not-a-key",))
    with pytest.raises(encryption.EncryptionError, match="no encryption key"):
        encryption.Keyring(())


def test_the_development_key_is_derived_from_the_secret_key_and_production_keys_replace_it():
    development = encryption.keyring_for({"SECRET_KEY": "test", "ENCRYPTION_KEYS": ()})
    assert development.development and development.keys == (encryption.development_key("test"),)
    assert encryption.development_key("test") != encryption.development_key("other")
    configured = encryption.keyring_for({"SECRET_KEY": "test", "ENCRYPTION_KEYS": (KEY_1,)})
    assert not configured.development
    long_text = ("A long free-text answer. " * 40).encode()
    sealed = configured.encrypt(long_text)
    assert encryption.is_ciphertext(sealed) and len(sealed) < len(long_text)  # compressed before encryption
    assert configured.decrypt(sealed) == long_text


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="pg_dump needs the PostgreSQL test database (TEST_DATABASE_URL)")
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_a_pg_dump_holds_no_plaintext_of_the_encrypted_fields(app, api):
    instance_id = _escalation(api)
    assert api.as_user("sam.patel").instance(instance_id)["data"]["disagreement"] == SECRET
    db.session.commit()
    url = make_url(os.environ["TEST_DATABASE_URL"])
    dump = subprocess.run(
        ["pg_dump", "--data-only", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
         "-U", url.username or "postgres", url.database],
        capture_output=True, check=True, env={**os.environ, "PGPASSWORD": url.password or ""}).stdout
    assert b"CASE-42" in dump  # the dump has the escalation (the case reference is plaintext by design)
    for typed in (SECRET, EVIDENCE, CONTACT, "sam.patel@example.org"):
        assert typed.encode() not in dump, typed


@pytest.mark.filterwarnings("ignore:.*expression-based index.*")  # SQLite's batch copy; the index is put back
def test_the_migration_encrypts_existing_rows_and_downgrade_decrypts_them(app_factory, clock):
    """A database from before encryption: `flask db upgrade` encrypts its addresses and mail in place;
    downgrading gives the plaintext back."""
    from datetime import datetime

    from flask_migrate import downgrade, upgrade

    from conftest import drop_everything
    app = app_factory(deploy=False, ENCRYPTION_KEYS=(KEY_1,))
    now = datetime(2026, 12, 1, 9)
    with app.app_context():
        drop_everything()
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="f15b2c3d4e5a")
        db.session.execute(text(
            "INSERT INTO users (id, username, display_name, email, password_hash, active, created_at, session_epoch)"
            " VALUES (1, 'old.user', 'Old User', :email, 'x', :yes, :now, 0)"), {"email": CONTACT, "now": now, "yes": True})
        db.session.execute(text(
            "INSERT INTO outbox (id, kind, recipient_email, subject, body, status, attempts, next_attempt_at, created_at)"
            " VALUES (1, 'notification', :email, 'Stage 1', :body, 'pending', 0, :now, :now)"),
            {"email": CONTACT, "body": SECRET, "now": now})
        db.session.commit()
        upgrade(directory=directory, revision="1a18e0c2d3f4")
        for sql in ("SELECT email FROM users", "SELECT recipient_email FROM outbox", "SELECT body FROM outbox"):
            assert encryption.is_ciphertext(_raw(sql)[0][0]), sql
        assert db.session.scalar(select(User.email).where(User.id == 1)) == CONTACT
        message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient_email == CONTACT)).one()
        assert message.body == SECRET
        db.session.rollback()
        downgrade(directory=directory, revision="f15b2c3d4e5a")
        assert _raw("SELECT email, body FROM users, outbox") == [(CONTACT, SECRET)]
        upgrade(directory=directory)  # and on to the newest schema
        assert db.session.scalar(select(OutboxMessage.body).where(OutboxMessage.id == 1)) == SECRET
