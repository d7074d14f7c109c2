"""Page helpers: one view, two renderings (whole page or HTMX fragment), and button actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from sourcewise.core.errors import Conflict


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

    A refused write (ValidationError) becomes error messages on the next page, each field's
    named; a stale one (Conflict) says so, and `then` shows the newer version.
    PermissionDenied propagates to the 403 page.
    """
    try:
        action()
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                label = "" if field in ("__all__", "status") else f"{field.replace('_', ' ').capitalize()}: "
                for error in errors:
                    messages.error(request, f"{label}{error}")
        else:
            for error in exc.messages:
                messages.error(request, error)
    except Conflict as exc:
        messages.error(request, f"{exc} The page now shows the newer version.")
    else:
        messages.success(request, success)
    return redirect(then)


def posted_version(request: HttpRequest) -> int | None:
    """The `version` a button's form was rendered with (None when absent: no stale check)."""
    value = request.POST.get("version", "")
    return int(value) if value.isdigit() else None


def add_form_errors(form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its field, or on the whole form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
