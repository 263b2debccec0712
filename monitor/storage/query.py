"""Small helpers for list queries shared by the API's stores."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select


def where_given(query: Select[Any], schools_column: Any, schools: set[str] | None,
                equal: Iterable[tuple[Any, Any]]) -> Select[Any]:
    """`query` narrowed to `schools` (None = every school) and to each `column == value` whose value is given."""
    if schools is not None:
        query = query.where(schools_column.in_(sorted(schools)))
    for column, value in equal:
        if value is not None:
            query = query.where(column == value)
    return query
