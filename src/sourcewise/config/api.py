"""The JSON API at /api/v1: authentication, error shapes, and every app's router."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
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
        request.user = api_token.user
        request.organization = api_token.organization
        request.membership = api_token.user.memberships.filter(
            organization=api_token.organization
        ).first()
        if request.membership is None:  # left the organisation: the token no longer works
            return None
        request.api_token = api_token
        return api_token


class ActiveSessionAuth(SessionAuth):
    """The browser's session (with CSRF on writes), acting for the active organisation."""

    def authenticate(self, request: HttpRequest, key: str | None):
        user = super().authenticate(request, key)
        if user is None or getattr(request, "organization", None) is None:
            return None
        return user


api = NinjaAPI(
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


def _field_errors(exc: ValidationError) -> list[dict]:
    if hasattr(exc, "error_dict"):
        return [
            {"loc": ["body", field], "msg": " ".join(m for e in errors for m in e.messages), "type": "invalid"}
            for field, errors in exc.error_dict.items()
        ]
    return [{"loc": ["body"], "msg": " ".join(exc.messages), "type": "invalid"}]


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError):
    return api.create_response(request, {"detail": _field_errors(exc)}, status=422)


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


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError):
    return api.create_response(
        request,
        {"detail": "Authentication required: send 'Authorization: Bearer <token>'."},
        status=401,
    )


def _register_routers() -> None:
    from sourcewise.accounts.api import router as accounts_router
    from sourcewise.core.api import router as core_router

    api.add_router("", accounts_router)
    api.add_router("", core_router)


_register_routers()

__all__ = ["api"]
