"""Alembic environment: Tandem passes its own connection in ``config.attributes``."""

from alembic import context

from tandem.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only used when alembic is driven by hand
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("alembic.ini sets no sqlalchemy.url (Tandem passes its connection)")
    engine = create_engine(url)
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
