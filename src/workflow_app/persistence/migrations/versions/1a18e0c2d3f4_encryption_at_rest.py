"""encryption at rest: free-text form data and contact details as ciphertext

The engine state and workflow data of every escalation, submitted form data in the history, rectified values,
and e-mail addresses (users, tasks, parties, single-use links, outgoing mail and its body) become binary
columns holding Fernet tokens (persistence/encryption.py), encrypted here a batch of rows at a time with the
newest key of WORKFLOW_ENCRYPTION_KEYS (addresses deterministically, so look-ups by address still work). A value that is already ciphertext is left alone, so an upgrade that
stopped halfway can be run again. Downgrade decrypts them back into text and JSON columns.

Revision ID: 1a18e0c2d3f4
Revises: f15b2c3d4e5a
Create Date: 2026-11-25 08:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '1a18e0c2d3f4'
down_revision = 'f15b2c3d4e5a'
branch_labels = None
depends_on = None

BATCH = 500

# (table, column, kind, type before, nullable)
COLUMNS = (
    ('instances', 'state', 'text', sa.Text(), False),
    ('instances', 'data', 'json', sa.JSON(), True),
    ('history', 'data', 'json', sa.JSON(), True),
    ('rectifications', 'old_value', 'json', sa.JSON(), True),
    ('rectifications', 'new_value', 'json', sa.JSON(), True),
    ('users', 'email', 'address', sa.String(length=200), False),
    ('tasks', 'contact_email', 'address', sa.String(length=200), True),
    ('escalation_parties', 'contact_email', 'address', sa.String(length=200), True),
    ('external_links', 'contact_email', 'address', sa.String(length=200), False),
    ('outbox', 'recipient_email', 'address', sa.String(length=200), False),
    ('outbox', 'body', 'text', sa.Text(), False),
)


def _nullable(table, column, default):
    inspector = sa.inspect(op.get_bind())
    for info in inspector.get_columns(table):
        if info['name'] == column:
            return info['nullable']
    return default


def upgrade():
    from workflow_app.persistence.encryption import keyring, seal_plaintext
    postgres = op.get_bind().dialect.name == 'postgresql'
    for table, column, kind, before, nullable in COLUMNS:
        nullable = _nullable(table, column, nullable)
        if postgres:
            source = f'{column}::text' if kind == 'json' else column
            op.alter_column(table, column, type_=sa.LargeBinary(), existing_type=before, existing_nullable=nullable,
                            postgresql_using=f"convert_to({source}, 'UTF8')")
        else:
            with op.batch_alter_table(table) as batch_op:
                batch_op.alter_column(column, type_=sa.LargeBinary(), existing_type=before,
                                      existing_nullable=nullable)
    _restore_expression_index(postgres)
    ring = keyring()
    for table, column, kind, _before, _nullable_ in COLUMNS:
        _rewrite(table, column, lambda value, kind=kind: None if _is_ciphertext(value)
                 else seal_plaintext(bytes(value).decode('utf-8'), kind, ring))


def downgrade():
    from workflow_app.persistence.encryption import keyring
    ring = keyring()
    postgres = op.get_bind().dialect.name == 'postgresql'
    for table, column, kind, _before, _nullable_ in COLUMNS:
        _rewrite(table, column, lambda value, kind=kind: _opened(ring, value, kind))
    for table, column, kind, before, nullable in COLUMNS:
        nullable = _nullable(table, column, nullable)
        if postgres:
            using = f"convert_from({column}, 'UTF8')" + ('::json' if kind == 'json' else '')
            op.alter_column(table, column, type_=before, existing_type=sa.LargeBinary(), existing_nullable=nullable,
                            postgresql_using=using)
        else:
            with op.batch_alter_table(table) as batch_op:
                batch_op.alter_column(column, type_=before, existing_type=sa.LargeBinary(), existing_nullable=nullable)
    _restore_expression_index(postgres)


def _restore_expression_index(postgres: bool) -> None:
    """SQLite's batch mode copies a table without its expression indexes: put the case-reference one back."""
    if not postgres:
        op.execute("CREATE INDEX IF NOT EXISTS ix_instances_case_lower ON instances (lower(case_reference))")


def _is_ciphertext(value) -> bool:
    from workflow_app.persistence.encryption import is_ciphertext
    return is_ciphertext(bytes(value)) or not bytes(value)


def _opened(ring, value, kind):
    value = bytes(value)
    if not value:
        return b'{}' if kind == 'json' else None
    if not _is_ciphertext(value):
        return None
    return ring.decrypt(value, 'a stored value')


def _rewrite(table, column, change):
    """``change(stored bytes)`` for every non-NULL value of ``table.column``, a batch of rows at a time
    (None: leave the row as it is)."""
    connection = op.get_bind()
    select = sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL AND id > :after "
                     f"ORDER BY id LIMIT :n").columns(sa.column('id'), sa.column(column, sa.LargeBinary()))
    update = sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id").bindparams(
        sa.bindparam('value', type_=sa.LargeBinary()))
    after = '' if table == 'tasks' else 0
    while True:
        rows = connection.execute(select, {"after": after, "n": BATCH}).all()
        if not rows:
            break
        for row_id, value in rows:
            if isinstance(value, str):
                value = value.encode('utf-8')
            new = change(value)
            if new is not None:
                connection.execute(update, {"value": new, "id": row_id})
        after = rows[-1][0]
