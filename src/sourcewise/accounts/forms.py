"""Forms for signing in, inviting, accepting and making tokens."""

from __future__ import annotations

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm

from sourcewise.accounts import services
from sourcewise.core.tenancy import Role

GENERIC_LOGIN_ERROR = "That email and password do not match an account."


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class LoginForm(AuthenticationForm):
    """Sign-in with one generic message for every failure, throttled per account and address."""

    username = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))
    error_messages = {
        "invalid_login": GENERIC_LOGIN_ERROR,
        "inactive": GENERIC_LOGIN_ERROR,
        "throttled": "Too many failed attempts. Try again in %(minutes)s minute(s).",
    }

    def clean(self):
        email = (self.cleaned_data.get("username") or "").lower()
        password = self.cleaned_data.get("password")
        if not email or not password:
            return self.cleaned_data
        ip = client_ip(self.request) if self.request else None
        wait = services.login_retry_after(email=email, ip_address=ip)
        if wait:
            raise forms.ValidationError(
                self.error_messages["throttled"], code="throttled",
                params={"minutes": max(1, round(wait / 60))},
            )
        self.user_cache = authenticate(self.request, username=email, password=password)
        if self.user_cache is None or not self.user_cache.is_active:
            services.login_failed(email=email, ip_address=ip)
            raise forms.ValidationError(GENERIC_LOGIN_ERROR, code="invalid_login")
        services.login_succeeded(email=email)
        return self.cleaned_data


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200)
    industry = forms.CharField(max_length=100, required=False, help_text="E.g. retail banking, telecoms.")


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AcceptInvitationForm(forms.Form):
    full_name = forms.CharField(max_length=200, label="Your name")
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                               label="Choose a password")


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'nightly upload script'.")
