"""The JSON API at /api/v1: authentication, error shapes, and every app's router."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError
from ninja.security import HttpBearer, SessionAuth

from sourcewise.core.errors import Conflict


class TokenAuth(HttpBearer):
    """`Authorization: Bearer sw_...`: a personal token acting for its one organisation."""

    openapi_description = "A personal API token from Account → API tokens."

    def authenticate(self, request: HttpRequest, token: str):
        from sourcewise.accounts.services import api_token_authenticate

        api_token = api_token_authenticate(token)
        if api_token is None:
            return None
        membership = api_token.user.memberships.filter(
            organization=api_token.organization
        ).select_related("organization").first()
        if membership is None:  # left the organisation: the token no longer works
            # Touch nothing on the request: the session auth tried next must not find
            # the token's user there and let the call through.
            return None
        request.user = api_token.user
        request.organization = membership.organization
        request.membership = membership
        request.api_token = api_token
        return api_token


class ActiveSessionAuth(SessionAuth):
    """The browser's session (with CSRF on writes), acting for the active organisation."""

    def authenticate(self, request: HttpRequest, key: str | None):
        user = super().authenticate(request, key)
        if user is None or getattr(request, "organization", None) is None:
            return None
        return user


class SourcewiseAPI(NinjaAPI):
    """Ninja, with one error shape for bad input wherever it is caught."""

    def validation_error_from_error_contexts(self, error_contexts) -> RequestValidationError:
        # A JSON body read into one schema is reported by ninja under the route's
        # parameter name (["body", "payload", "name"]); services report ["body", "name"].
        # Clients see the second form everywhere: the field as they sent it.
        errors = []
        for context in error_contexts:
            found = super().validation_error_from_error_contexts([context]).errors
            wrapper = getattr(context.model, "__read_from_single_attr__", None)
            for error in found:
                loc = tuple(error["loc"])
                if wrapper and loc[:2] == ("body", wrapper):
                    error["loc"] = ("body", *loc[2:])
                errors.append(error)
        return RequestValidationError(errors)


api = SourcewiseAPI(
    title="Sourcewise API",
    version="1",
    description=(
        "Everything the pages do, as JSON. Authenticate with a personal API token "
        "(`Authorization: Bearer sw_…`), which acts for the one organisation it was made for. "
        "Objects you may not see answer 404, exactly like objects that do not exist."
    ),
    auth=[TokenAuth(), ActiveSessionAuth()],
    docs_url="/docs",
    urls_namespace="api",
)


def _field_errors(exc: ValidationError, query: Iterable[str] = ()) -> list[dict]:
    """Django's ValidationError in the API's error shape. A field the request carried in
    its query string (`query`) is located there, as ninja locates its own query errors;
    any other in the body."""
    if hasattr(exc, "error_dict"):
        return [
            {"loc": ["query" if field in query else "body", field],
             "msg": " ".join(m for e in errors for m in e.messages), "type": "invalid"}
            for field, errors in exc.error_dict.items()
        ]
    return [{"loc": ["body"], "msg": " ".join(exc.messages), "type": "invalid"}]


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError):
    return api.create_response(request, {"detail": _field_errors(exc, _query_only(request))}, status=422)


def _query_only(request: HttpRequest) -> set[str]:
    """The parameters of the query string that the body does not also carry."""
    if not request.GET:
        return set()
    body: object = None
    if request.method not in ("GET", "HEAD") and request.content_type == "application/json":
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            body = json.loads(request.body or b"null")
    sent = set(body) if isinstance(body, dict) else set()
    if request.method not in ("GET", "HEAD") and request.content_type != "application/json":
        sent |= set(request.POST)
    return set(request.GET) - sent


@api.exception_handler(PermissionDenied)
def on_permission_denied(request: HttpRequest, exc: PermissionDenied):
    message = str(exc) or "You may not do this."
    return api.create_response(request, {"detail": message}, status=403)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404):
    return api.create_response(request, {"detail": "Not found."}, status=404)


@api.exception_handler(Conflict)
def on_conflict(request: HttpRequest, exc: Conflict):
    return api.create_response(request, {"detail": str(exc)}, status=409)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError):
    # Ninja answers 400 to a body that is not JSON; report it like any other bad input.
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        error = {"loc": ["body"], "msg": f"The body is not valid JSON: {exc.__cause__}",
                 "type": "json_invalid"}
        return api.create_response(request, {"detail": [error]}, status=422)
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError):
    return api.create_response(
        request,
        {"detail": "Authentication required: send 'Authorization: Bearer <token>'."},
        status=401,
    )


def _register_routers() -> None:
    from sourcewise.accounts.api import router as accounts_router
    from sourcewise.colearning.api import router as colearning_router
    from sourcewise.core.api import router as core_router
    from sourcewise.monitoring.api import router as monitoring_router
    from sourcewise.providers.api import router as providers_router
    from sourcewise.resilience.api import router as resilience_router

    api.add_router("", accounts_router)
    api.add_router("", core_router)
    api.add_router("", monitoring_router)
    api.add_router("", resilience_router)
    api.add_router("", providers_router)
    api.add_router("", colearning_router)


_register_routers()

__all__ = ["api"]
