"""Pages of the shell: dashboard, engagements, health and error pages."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from sourcewise.accounts.models import Membership
from sourcewise.core import services
from sourcewise.core.errors import Conflict
from sourcewise.core.forms import EngagementForm, EngagementProposeForm
from sourcewise.core.htmx import add_form_errors, perform, render_page
from sourcewise.core.middleware import SESSION_KEY
from sourcewise.core.models import AuditEvent, Engagement
from sourcewise.core.permissions import require_role
from sourcewise.core.selectors import engagement_get, engagement_list
from sourcewise.core.tables import Column, Table, history_tab
from sourcewise.core.tenancy import Role

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure to reach the database means unhealthy
        # The reason goes to the log, not to anonymous callers: it can name hosts and users.
        logger.warning("Health check: the database is unreachable: %s", exc)
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "core/error.html", {"status": 404, "title": "Not found",
                  "message": "There is nothing here, or it is not shared with you."}, status=404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "You may not do this."
    return render(request, "core/error.html", {"status": 403, "title": "Not allowed",
                  "message": message}, status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "core/error.html", {"status": 403, "title": "Form expired",
                  "message": "The form could not be verified. Reload the page and try again."},
                  status=403)


def _scope(request: HttpRequest) -> dict:
    return {"user": request.user, "organization": request.organization}


ENGAGEMENT_TABLE = Table(
    columns=[
        Column("name", "Engagement", order_by="name"),
        Column("buyer.name", "Buyer", order_by="buyer__name"),
        Column("provider.name", "Provider", order_by="provider__name"),
        Column("status", "Status", order_by="status", value=lambda e: e.get_status_display()),
        Column("start_date", "Start", order_by="start_date"),
        Column("end_date", "End", order_by="end_date"),
    ],
    default_sort="name",
    search_fields=["name", "services", "buyer__name", "provider__name"],
    filters={"status": "status"},
)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        return render(request, "core/no_organization.html")
    engagements = engagement_list(**_scope(request))
    counts = engagements.aggregate(
        active=Count("pk", filter=Q(status=Engagement.Status.ACTIVE)),
        proposed=Count("pk", filter=Q(status=Engagement.Status.PROPOSED)),
        as_buyer=Count("pk", filter=Q(buyer=request.organization)),
        as_provider=Count("pk", filter=Q(provider=request.organization)),
    )
    awaiting = engagements.filter(status=Engagement.Status.PROPOSED).exclude(
        proposed_by=request.organization
    )
    activity = (
        AuditEvent.objects.visible_to(request.user, request.organization)
        .select_related("actor", "engagement")[:10]
    )
    return render(request, "core/home.html", {
        "engagements": engagements.exclude(status=Engagement.Status.ENDED).order_by("name")[:12],
        "counts": counts,
        "awaiting": awaiting,
        "activity": activity,
        "member_count": Membership.objects.visible_to(request.user, request.organization)
        .filter(organization=request.organization).count(),
    })


@login_required
@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    org_id = request.POST.get("organization")
    membership = Membership.objects.filter(user=request.user, organization_id=org_id).select_related(
        "organization").first() if (org_id or "").isdigit() else None
    if membership is None:
        messages.error(request, "You are not a member of that organisation.")
    else:
        request.session[SESSION_KEY] = membership.organization_id
        messages.success(request, f"You are now acting for {membership.organization.name}.")
    return redirect("home")


@login_required
@require_GET
def engagement_index(request: HttpRequest) -> HttpResponse:
    queryset = engagement_list(**_scope(request))
    if request.GET.get("format") == "csv":
        return ENGAGEMENT_TABLE.csv_response(ENGAGEMENT_TABLE.filtered(request, queryset), "engagements")
    context = ENGAGEMENT_TABLE.apply(request, queryset)
    context["statuses"] = Engagement.Status.choices
    return render_page(request, "core/engagement_list.html", context, fragment="results")


@login_required
def engagement_new(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        return redirect("home")
    # Say so before the form is filled in, not after.
    require_role(request.user, request.organization, Role.MANAGER)
    form = EngagementProposeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            engagement = services.engagement_propose(
                actor=request.user, organization=request.organization,
                counterpart=data["counterpart"], our_side=data["our_side"], name=data["name"],
                services=data["services"], description=data["description"],
                start_date=data["start_date"], end_date=data["end_date"],
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, f"Proposed. {engagement.provider if data['our_side'] == 'buyer' else engagement.buyer} can now accept it.")
            return redirect("engagement_detail", pk=engagement.pk)
    status = 422 if request.method == "POST" else 200
    return render(request, "core/engagement_form.html", {"form": form, "title": "Propose an engagement"}, status=status)


@login_required
@require_GET
def engagement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = engagement_get(**_scope(request), pk=pk)
    tab = request.GET.get("tab", "overview")
    context = {
        "engagement": engagement,
        "tab": tab,
        "side": engagement.side_of(request.organization),
        "counterpart": engagement.provider if engagement.side_of(request.organization) == "buyer" else engagement.buyer,
        "can_accept": engagement.status == Engagement.Status.PROPOSED
        and engagement.proposed_by_id != request.organization.pk,
    }
    if tab == "history":
        history = history_tab(request, engagement, filename=engagement.name)
        if isinstance(history, HttpResponseBase):  # the CSV export
            return history
        context.update(history)
    return render_page(request, "core/engagement_detail.html", context, fragment="tab")


@login_required
def engagement_edit(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = engagement_get(**_scope(request), pk=pk)
    initial = {f: getattr(engagement, f) for f in services.EDITABLE_FIELDS} | {"version": engagement.version}
    form = EngagementForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.engagement_update(
                actor=request.user, engagement=engagement, expected_version=data.get("version"),
                organization=request.organization,
                **{f: data[f] for f in services.EDITABLE_FIELDS},
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect("engagement_detail", pk=engagement.pk)
    status = 422 if request.method == "POST" else 200
    return render(request, "core/engagement_form.html",
                  {"form": form, "engagement": engagement, "title": f"Edit {engagement.name}"}, status=status)


@login_required
@require_POST
def engagement_accept(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = engagement_get(**_scope(request), pk=pk)
    # The role held in the organisation acted for decides, as in the API.
    return perform(request, lambda: services.engagement_accept(
        actor=request.user, engagement=engagement, organization=request.organization),
        success="Accepted: the engagement is active.", then=engagement.get_absolute_url())


@login_required
@require_POST
def engagement_end(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = engagement_get(**_scope(request), pk=pk)
    return perform(request, lambda: services.engagement_end(
        actor=request.user, engagement=engagement, organization=request.organization),
        success="The engagement has ended. Its history stays.", then=engagement.get_absolute_url())
