"""Page helpers: one view, two renderings (whole page or HTMX fragment), and button actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    fragment: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render `template`; an HTMX request gets only its `{% partialdef fragment %}`."""
    name = f"{template}#{fragment}" if fragment and is_htmx(request) else template
    return render(request, name, context, status=status)


def perform(
    request: HttpRequest, action: Callable[[], Any], *, success: str, then: str
) -> HttpResponse:
    """Run a button's service call; say how it went; go to `then`.

    A refused write (ValidationError) becomes an error message on the next page;
    PermissionDenied propagates to the 403 page.
    """
    try:
        action()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, success)
    return redirect(then)


def add_form_errors(form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its field, or on the whole form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
