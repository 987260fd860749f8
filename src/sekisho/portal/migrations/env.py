from sekisho.portal.store import metadata
from sekisho.storage.alembic_env import run_migrations

run_migrations(metadata, "portal")
