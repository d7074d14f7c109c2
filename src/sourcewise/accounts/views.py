"""Pages for signing in, the organisation (members, invitations), joining, and API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from sourcewise.accounts import selectors, services
from sourcewise.accounts.forms import (
    AcceptInvitationForm,
    ApiTokenForm,
    InvitationForm,
    LoginForm,
    OrganizationForm,
    RoleForm,
)
from sourcewise.accounts.models import ApiToken, Invitation, Membership
from sourcewise.core.htmx import add_form_errors, perform
from sourcewise.core.middleware import SESSION_KEY
from sourcewise.core.selectors import get_visible
from sourcewise.core.tables import Column, Table, history_tab

INVITATIONS_TAB = "/organization/?tab=invitations"
MEMBER_TABLE = Table(
    columns=[
        Column("user.full_name", "Name"),
        Column("user.email", "Email"),
        Column("role", "Role", value=lambda m: m.get_role_display()),
        Column("created_at", "Member since", value=lambda m: m.created_at.date().isoformat()),
    ],
    default_sort="user.email",
)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


@login_required
@require_GET
def organization_detail(request: HttpRequest) -> HttpResponse:
    org = request.organization
    if org is None:
        return redirect("home")
    tab = request.GET.get("tab", "members")
    context = {
        "organization": org,
        "tab": tab,
        "memberships": selectors.membership_list(user=request.user, organization=org),
        "invitations": selectors.invitation_list(user=request.user, organization=org)[:50],
        "invite_form": InvitationForm(),
        "role_form": RoleForm(),
    }
    if tab == "history":
        history = history_tab(request, org, filename=org.slug)
        if isinstance(history, HttpResponseBase):  # the CSV export
            return history
        context.update(history)
    elif request.GET.get("format") == "csv":
        return MEMBER_TABLE.csv_response(context["memberships"], f"{org.slug}-members")
    return render(request, "accounts/organization.html", context)


@login_required
def organization_new(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = services.organization_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            request.session[SESSION_KEY] = org.pk
            messages.success(request, f"{org.name} is created; you are its owner.")
            return redirect("organization")
    return render(request, "accounts/organization_new.html", {"form": form},
                  status=422 if request.method == "POST" else 200)


@login_required
@require_POST
def invitation_create(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation, _token = services.invitation_create(
                actor=request.user, organization=request.organization, **form.cleaned_data
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
    else:
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect(INVITATIONS_TAB)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_visible(Invitation, user=request.user, organization=request.organization, pk=pk)
    return perform(
        request, lambda: services.invitation_revoke(actor=request.user, invitation=invitation),
        success=f"The invitation to {invitation.email} is withdrawn.", then=INVITATIONS_TAB,
    )


@login_required
@require_POST
def membership_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_visible(Membership, user=request.user, organization=request.organization, pk=pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return redirect("organization")
    role = form.cleaned_data["role"]
    return perform(
        request,
        lambda: services.membership_set_role(actor=request.user, membership=membership, role=role),
        success=f"{membership.user} is now {role}.", then="organization",
    )


@login_required
@require_POST
def membership_remove(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_visible(Membership, user=request.user, organization=request.organization, pk=pk)
    return perform(
        request, lambda: services.membership_remove(actor=request.user, membership=membership),
        success=f"{membership.user} is no longer a member.", then="organization",
    )


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_for_token(token)
    except services.InvitationUnusable as exc:
        return render(request, "accounts/invitation_unusable.html", {"reason": exc.reason}, status=410)
    signed_in = request.user.is_authenticated
    form = None if signed_in else AcceptInvitationForm(request.POST or None)
    if request.method == "POST":
        try:
            if signed_in:
                membership = services.invitation_accept(token=token, user=request.user)
            elif form.is_valid():
                membership = services.invitation_accept(token=token, **form.cleaned_data)
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            else:
                membership = None
        except services.InvitationUnusable as exc:
            return render(request, "accounts/invitation_unusable.html", {"reason": exc.reason}, status=410)
        except ValidationError as exc:
            if form is None:
                messages.error(request, " ".join(exc.messages))
            else:
                add_form_errors(form, exc)
            membership = None
        if membership is not None:
            request.session[SESSION_KEY] = membership.organization_id
            messages.success(request, f"Welcome to {membership.organization.name}.")
            return redirect("home")
    return render(request, "accounts/invitation_accept.html",
                  {"invitation": invitation, "form": form, "signed_in": signed_in},
                  status=422 if request.method == "POST" else 200)


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        try:
            _token, secret = services.api_token_create(
                actor=request.user, organization=request.organization, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            form = ApiTokenForm()
    return render(request, "accounts/api_tokens.html", {
        "form": form, "secret": secret,
        "tokens": selectors.api_token_list(user=request.user),
    }, status=422 if form.errors else 200)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_visible(ApiToken, user=request.user, pk=pk)
    services.api_token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token '{token.name}' is revoked; scripts using it now get 401.")
    return redirect("api_tokens")
