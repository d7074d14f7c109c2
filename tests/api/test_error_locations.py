"""A service's ValidationError names where the bad field was sent: the query string or the body."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.test import RequestFactory

from sourcewise.config.api import _field_errors, _query_only


def _locs(request, *fields: str) -> list[list[str]]:  # noqa: ANN001
    exc = ValidationError({field: ["Wrong."] for field in fields})
    return [e["loc"] for e in _field_errors(exc, _query_only(request))]


def test_a_query_parameter_is_located_in_the_query() -> None:
    request = RequestFactory().get("/api/v1/x?days=45&other=1")
    assert _locs(request, "days", "name") == [["query", "days"], ["body", "name"]]


def test_a_field_the_body_carries_is_located_in_the_body_even_if_the_url_has_it_too() -> None:
    factory = RequestFactory()
    request = factory.post("/api/v1/x?days=45&page=2", data=json.dumps({"days": 3}), content_type="application/json")
    assert _locs(request, "days", "page") == [["body", "days"], ["query", "page"]]
    form = factory.post("/api/v1/x?days=45", data={"days": "3"})
    assert _locs(form, "days") == [["body", "days"]]


def test_without_a_query_string_everything_is_in_the_body() -> None:
    request = RequestFactory().post("/api/v1/x", data="not json", content_type="application/json")
    assert _locs(request, "days") == [["body", "days"]]
