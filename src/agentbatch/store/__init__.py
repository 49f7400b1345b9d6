"""The store: SQLAlchemy Core tables, the async engine, Alembic migrations, bulk queries."""
