"""Which organisation the signed-in person is acting for on this request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

SESSION_KEY = "active_organization_id"


class ActiveOrganizationMiddleware:
    """Sets `request.organization` and `request.membership` from the session.

    The first organisation (by name) is the default; a stale choice (membership
    removed) falls back to it, so nobody keeps acting for an organisation they left.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organization = None
        request.membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            from sourcewise.accounts.models import Membership

            memberships = Membership.objects.filter(user=user).select_related("organization")
            wanted = request.session.get(SESSION_KEY)
            membership = None
            if wanted is not None:
                membership = memberships.filter(organization_id=wanted).first()
            if membership is None:
                membership = memberships.order_by("organization__name").first()
            if membership is not None:
                request.organization = membership.organization
                request.membership = membership
        return self.get_response(request)
