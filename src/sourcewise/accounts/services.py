"""Every write to accounts: organisations, roles, invitations, API tokens, sign-in throttling."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from sourcewise.accounts.models import (
    ApiToken,
    Invitation,
    LoginFailure,
    Membership,
    Organization,
    User,
)
from sourcewise.core import audit
from sourcewise.core.permissions import require_role
from sourcewise.core.tenancy import Role


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "organisation"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organization_create(*, actor: User, name: str, industry: str = "", slug: str = "") -> Organization:
    """A new organisation with `actor` as its owner."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the organisation a name."})
    if slug:
        slug = slugify(slug)
        if Organization.objects.filter(slug=slug).exists():
            raise ValidationError({"slug": f"The short name '{slug}' is taken."})
    org = Organization.objects.create(name=name, industry=industry.strip(), slug=slug or _unique_slug(name))
    membership = Membership.objects.create(user=actor, organization=org, role=Role.OWNER)
    audit.record(
        actor=actor, action="organization.create", obj=org, organization=org,
        changes=audit.created(audit.snapshot(org, ["name", "slug", "industry"])),
    )
    audit.record(
        actor=actor, action="membership.create", obj=membership, organization=org,
        changes=audit.created({"user": actor.email, "role": Role.OWNER}),
    )
    return org


def _require_granting(actor: User, organization: Organization, role: str) -> Membership:
    """The actor's membership, if they may give someone `role` in `organization`."""
    mine = require_role(actor, organization, Role.MANAGER)
    if role not in Role.values:
        raise ValidationError({"role": f"'{role}' is not a role: use one of {', '.join(Role.values)}."})
    if role == Role.OWNER and mine.role != Role.OWNER:
        raise PermissionDenied("Only an owner can make someone an owner.")
    return mine


def _owners_left(organization: Organization, excluding: Membership) -> int:
    return (
        Membership.objects.filter(organization=organization, role=Role.OWNER)
        .exclude(pk=excluding.pk)
        .count()
    )


@transaction.atomic
def membership_set_role(*, actor: User, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"'{role}' is not a role: use one of {', '.join(Role.values)}."})
    mine = require_role(actor, membership.organization, Role.MANAGER)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if Role.OWNER in (role, membership.role) and mine.role != Role.OWNER:
        raise PermissionDenied("Only an owner can make or unmake owners.")
    if membership.role == Role.OWNER and role != Role.OWNER and not _owners_left(
        membership.organization, membership
    ):
        raise ValidationError({"role": "An organisation keeps at least one owner."})
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(
        actor=actor, action="membership.change_role", obj=membership,
        organization=membership.organization, changes=audit.diff({"role": before}, {"role": role}),
    )
    return membership


@transaction.atomic
def membership_remove(*, actor: User, membership: Membership) -> None:
    mine = require_role(actor, membership.organization, Role.MANAGER)
    if membership.role == Role.OWNER and mine.role != Role.OWNER:
        raise PermissionDenied("Only an owner can remove an owner.")
    if membership.role == Role.OWNER and not _owners_left(membership.organization, membership):
        raise ValidationError({"role": "An organisation keeps at least one owner."})
    audit.record(
        actor=actor, action="membership.remove", obj=membership, organization=membership.organization,
        changes=audit.diff({"user": membership.user.email, "role": membership.role}, {}),
    )
    membership.delete()


@transaction.atomic
def membership_add(*, actor: User, organization: Organization, user: User, role: str) -> Membership:
    """Add an existing account directly (operators and the demo; people join by invitation)."""
    _require_granting(actor, organization, role)
    if Membership.objects.filter(organization=organization, user=user).exists():
        raise ValidationError({"user": f"{user.email} is already a member of {organization}."})
    membership = Membership.objects.create(user=user, organization=organization, role=role)
    audit.record(
        actor=actor, action="membership.create", obj=membership, organization=organization,
        changes=audit.created({"user": user.email, "role": role}),
    )
    return membership


def _send_invitation_email(invitation_id: int, token: str) -> None:
    invitation = Invitation.objects.select_related("organization", "invited_by").get(pk=invitation_id)
    link = f"{settings.SITE_URL}/invitations/{token}/"
    context = {"invitation": invitation, "link": link}
    send_mail(
        subject=f"You are invited to {invitation.organization.name} on Sourcewise",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )


@transaction.atomic
def invitation_create(
    *, actor: User, organization: Organization, email: str, role: str = Role.MEMBER
) -> tuple[Invitation, str]:
    """An invitation and its secret token; the link is emailed once the write commits."""
    _require_granting(actor, organization, role)
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": f"'{email}' is not an email address."}) from None
    if Membership.objects.filter(organization=organization, user__email=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {organization}."})
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization, email=email, role=role, invited_by=actor,
        token_hash=Invitation.hash_token(token),
        expires_at=timezone.now() + dt.timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit.record(
        actor=actor, action="invitation.create", obj=invitation, organization=organization,
        changes=audit.created({"email": email, "role": role}),
    )
    # The token is never stored in clear, so it cannot wait in a task queue: send on commit.
    transaction.on_commit(lambda: _send_invitation_email(invitation.pk, token))
    return invitation, token


@transaction.atomic
def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    require_role(actor, invitation.organization, Role.MANAGER)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state != "pending":
        raise ValidationError(f"This invitation is already {invitation.state}.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit.record(
        actor=actor, action="invitation.revoke", obj=invitation, organization=invitation.organization,
        changes=audit.diff({"state": "pending"}, {"state": "revoked"}),
    )
    return invitation


class InvitationUnusable(Exception):
    """The link is unknown, expired, revoked or already used."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def invitation_for_token(token: str) -> Invitation:
    """The pending invitation a link stands for, or InvitationUnusable saying why not."""
    invitation = (
        Invitation.objects.select_related("organization")
        .filter(token_hash=Invitation.hash_token(token or ""))
        .first()
    )
    if invitation is None:
        raise InvitationUnusable("This invitation link is not valid. Ask for a new invitation.")
    messages = {
        "accepted": "This invitation has already been used.",
        "revoked": "This invitation was withdrawn.",
        "expired": "This invitation has expired. Ask the person who invited you for a new one.",
    }
    if invitation.state in messages:
        raise InvitationUnusable(messages[invitation.state])
    return invitation


@transaction.atomic
def invitation_accept(
    *,
    token: str,
    user: User | None = None,
    full_name: str = "",
    password: str = "",
) -> Membership:
    """Join the organisation: as the signed-in `user`, or as a new account made here."""
    invitation = invitation_for_token(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state != "pending":  # used by a concurrent request meanwhile
        raise InvitationUnusable("This invitation has already been used.")
    # The link lets the invited person join, not whoever it was forwarded to.
    if user is not None and user.email.lower() != invitation.email.lower():
        raise ValidationError({"email": (
            f"This invitation is for {invitation.email}, and you are signed in as {user.email}. "
            f"Sign in as {invitation.email} to accept it."
        )})
    if user is None:
        if User.objects.filter(email=invitation.email).exists():
            raise ValidationError(
                {"email": f"An account for {invitation.email} exists: sign in to accept."}
            )
        candidate = User(email=invitation.email, full_name=full_name.strip())
        try:
            validate_password(password, candidate)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
        user = User.objects.create_user(invitation.email, password, full_name=full_name.strip())
        audit.record(
            actor=user, action="user.create", obj=user, organization=invitation.organization,
            changes=audit.created({"email": user.email, "full_name": user.full_name}),
        )
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                user=user, organization=invitation.organization, role=invitation.role
            )
    except IntegrityError:
        raise ValidationError(
            {"email": f"{user.email} is already a member of {invitation.organization}."}
        ) from None
    invitation.accepted_at, invitation.accepted_by = timezone.now(), user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit.record(
        actor=user, action="invitation.accept", obj=membership, organization=invitation.organization,
        changes=audit.created({"user": user.email, "role": invitation.role}),
    )
    return membership


@transaction.atomic
def api_token_create(*, actor: User, organization: Organization, name: str) -> tuple[ApiToken, str]:
    """A token for `actor` acting for `organization`; the secret is returned once, never stored."""
    require_role(actor, organization, Role.VIEWER)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the token so you can recognise it later."})
    if len(name) > 100:
        raise ValidationError({"name": "Keep the name under 100 characters."})
    secret = ApiToken.new_secret()
    token = ApiToken.objects.create(
        user=actor, organization=organization, name=name,
        token_hash=ApiToken.hash_token(secret), token_prefix=secret[:10],
    )
    audit.record(
        actor=actor, action="api_token.create", obj=token, organization=organization,
        changes=audit.created({"name": name, "prefix": token.token_prefix}),
    )
    return token, secret


@transaction.atomic
def api_token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    if token.user_id != actor.pk:
        raise PermissionDenied("You can revoke only your own tokens.")
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor, action="api_token.revoke", obj=token, organization=token.organization,
            changes=audit.diff({"revoked": False}, {"revoked": True}),
        )
    return token


def api_token_authenticate(secret: str) -> ApiToken | None:
    """The active token for a presented secret, noting when it was last used."""
    if not secret or not secret.startswith(ApiToken.PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user", "organization")
        .filter(token_hash=ApiToken.hash_token(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    # One write a minute at most: a busy script should not turn every read into a write.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def login_retry_after(*, email: str, ip_address: str | None) -> int:
    """Seconds until another sign-in attempt is allowed (0: allowed now)."""
    window = dt.timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW)
    since = timezone.now() - window
    recent = LoginFailure.objects.filter(created_at__gte=since)
    for failures in (recent.filter(email=email.lower()), recent.filter(ip_address=ip_address) if ip_address else None):
        if failures is None:
            continue
        times = list(failures.order_by("-created_at").values_list("created_at", flat=True)[: settings.LOGIN_THROTTLE_LIMIT])
        if len(times) >= settings.LOGIN_THROTTLE_LIMIT:
            oldest = times[-1]
            return max(1, int((oldest + window - timezone.now()).total_seconds()))
    return 0


def login_failed(*, email: str, ip_address: str | None) -> None:
    LoginFailure.objects.create(email=(email or "").lower()[:254], ip_address=ip_address)
    LoginFailure.objects.filter(
        created_at__lt=timezone.now() - dt.timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW)
    ).delete()


def login_succeeded(*, email: str) -> None:
    LoginFailure.objects.filter(email=(email or "").lower()).delete()


def user_create(*, email: str, password: str, full_name: str = "", actor: Any = None) -> User:
    """An account made by an operator or the demo (people otherwise join through invitations)."""
    with transaction.atomic():
        user = User.objects.create_user(email, password, full_name=full_name)
        audit.record(
            actor=actor, action="user.create", obj=user,
            changes=audit.created({"email": user.email, "full_name": full_name}),
        )
    return user
