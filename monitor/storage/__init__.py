"""Storage: the registry in force, device runtime state, alarm events and judgements (SQLAlchemy 2).

SQLite by default (`sqlite:///path`), PostgreSQL via `postgresql+psycopg://`; the schema is managed by
the Alembic migrations in `monitor/migrations` (`Database.migrate()`). See README.md in this folder to
add a table.
"""

from monitor.storage.db import Database, DatabaseError, mask_url
from monitor.storage.device_store import DeviceStateRow, load_device_states, save_device_states
from monitor.storage.event_store import list_judgements, store_alarm_event, store_judgements
from monitor.storage.registry_store import ImportResult, import_registry, latest_registry_source

__all__ = [
    "Database",
    "DatabaseError",
    "DeviceStateRow",
    "ImportResult",
    "import_registry",
    "latest_registry_source",
    "list_judgements",
    "load_device_states",
    "mask_url",
    "save_device_states",
    "store_alarm_event",
    "store_judgements",
]
