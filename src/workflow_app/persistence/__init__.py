"""Persistence: SQLAlchemy models and Alembic migrations (``persistence/migrations``)."""
