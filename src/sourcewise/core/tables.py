"""Server-side tables: sort, filter and paginate a scoped queryset, or export it as CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.text import slugify


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # Model field path to order by; None makes the column unsortable.
    order_by: str | None = None
    # How the CSV export (and the default template) reads the value from a row.
    value: Callable[[Any], Any] | None = None

    def read(self, row: Any) -> Any:
        if self.value is not None:
            return self.value(row)
        obj = row
        for part in self.key.split("."):
            obj = getattr(obj, part, None)
            if callable(obj):
                obj = obj()
        return obj


@dataclass
class Table:
    columns: Sequence[Column]
    default_sort: str
    search_fields: Sequence[str] = ()
    per_page: int = 25
    filters: dict[str, str] = field(default_factory=dict)  # query param -> field lookup

    def apply(self, request: HttpRequest, queryset: QuerySet) -> dict[str, Any]:
        """The page of rows and the state the template needs to draw the controls."""
        params = request.GET
        q = params.get("q", "").strip()
        if q and self.search_fields:
            condition = Q()
            for name in self.search_fields:
                condition |= Q(**{f"{name}__icontains": q})
            queryset = queryset.filter(condition)
        active_filters = {}
        for param, lookup in self.filters.items():
            value = params.get(param, "").strip()
            if value:
                queryset = queryset.filter(**{lookup: value})
                active_filters[param] = value
        sort = params.get("sort", self.default_sort)
        sortable = {c.key: c.order_by for c in self.columns if c.order_by}
        key = sort.lstrip("-")
        if key not in sortable:
            sort, key = self.default_sort, self.default_sort.lstrip("-")
        descending = sort.startswith("-")
        queryset = queryset.order_by(("-" if descending else "") + sortable[key], "pk")
        paginator = Paginator(queryset, self.per_page)
        page = paginator.get_page(params.get("page"))
        return {
            "table": self,
            "page": page,
            "rows": page.object_list,
            "sort": sort,
            "sort_key": key,
            "descending": descending,
            "q": q,
            "filters": active_filters,
            "query_without_page": _query_without(request, "page"),
            "query_without_sort": _query_without(request, "sort", "page"),
        }

    def csv_response(self, queryset: QuerySet, filename: str) -> StreamingHttpResponse:
        """Every row of the (already scoped and filtered) queryset, streamed."""

        class Echo:
            def write(self, value: str) -> str:
                return value

        writer = csv.writer(Echo())

        def rows():
            yield writer.writerow([c.label for c in self.columns])
            for row in queryset.iterator(chunk_size=2000):
                yield writer.writerow([_csv_value(c.read(row)) for c in self.columns])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{slugify(filename)}.csv"'
        return response

    def filtered(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The queryset narrowed by the page's search and filters (for exports)."""
        state = self.apply(request, queryset)
        return state["page"].paginator.object_list


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    text = str(value)
    # Spreadsheets run cells that start like a formula; neutralise them.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _query_without(request: HttpRequest, *keys: str) -> str:
    params = request.GET.copy()
    for key in keys:
        params.pop(key, None)
    encoded = params.urlencode()
    return encoded + "&" if encoded else ""


HISTORY_TABLE = Table(
    columns=[
        Column("seq", "#", order_by="seq"),
        Column("created_at", "When", order_by="created_at", value=lambda e: e.created_at.isoformat()),
        Column("actor_label", "Who", order_by="actor_label"),
        Column("action", "Action", order_by="action"),
        Column("object_type", "Object type"),
        Column("object_repr", "Object"),
        Column("changes", "Changes", value=lambda e: json.dumps(e.changes, ensure_ascii=False)),
    ],
    default_sort="-seq",
    search_fields=["action", "object_repr", "actor_label"],
    per_page=50,
)


def history_tab(request: HttpRequest, obj: Any, *, filename: str):
    """The History tab of an object page: a page of its audit records, or all of them as CSV."""
    from sourcewise.core.audit import history_for

    records = history_for(obj, user=request.user, organization=getattr(request, "organization", None))
    if request.GET.get("format") == "csv":
        return HISTORY_TABLE.csv_response(HISTORY_TABLE.filtered(request, records), f"{filename}-history")
    return HISTORY_TABLE.apply(request, records)
