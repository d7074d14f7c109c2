"""The API tokens page: the secret is shown once, only its hash is kept, tokens are personal."""

from __future__ import annotations

import hashlib
import re

import pytest

from sourcewise.accounts import services
from sourcewise.accounts.models import ApiToken

pytestmark = pytest.mark.django_db

SECRET = re.compile(r'<p class="secret" id="new-token">(sw_[A-Za-z0-9_-]{40,})</p>')


def _create(client, name: str = "nightly upload") -> str:
    response = client.post("/account/tokens/", {"name": name})
    assert response.status_code == 200
    return SECRET.search(response.content.decode()).group(1)


def test_the_secret_is_shown_once_and_only_its_hash_is_stored(world, login):
    client = login(world.buyer.member)
    secret = _create(client)
    token = ApiToken.objects.get()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (token.user, token.organization, token.name) == (
        world.buyer.member, world.buyer.organization, "nightly upload",
    )
    stored = [str(v) for v in ApiToken.objects.values_list().get()]
    assert not any(secret in value for value in stored)
    assert secret.startswith(token.token_prefix) and len(token.token_prefix) < len(secret) // 3

    later = client.get("/account/tokens/").content.decode()
    assert secret not in later
    assert "nightly upload" in later and f"{token.token_prefix}…" in later
    # The API accepts the secret.
    assert services.api_token_authenticate(secret) == token


def test_a_token_needs_a_name(world, login):
    response = login(world.buyer.viewer).post("/account/tokens/", {"name": "   "})
    html = response.content.decode()
    assert "This field is required." in html
    assert not SECRET.search(html)
    assert not ApiToken.objects.exists()


def test_revoking_a_token_stops_it_working(world, login):
    client = login(world.buyer.viewer)
    secret = _create(client)
    token = ApiToken.objects.get()
    response = client.post(f"/account/tokens/{token.pk}/revoke/", follow=True)
    html = response.content.decode()
    assert "Token &#x27;nightly upload&#x27; is revoked" in html
    assert "revoked</span>" in html
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert services.api_token_authenticate(secret) is None


def test_a_colleague_can_neither_see_nor_revoke_someone_elses_token(world, login):
    secret = _create(login(world.buyer.member), name="member's script")
    token = ApiToken.objects.get()

    client = login(world.buyer.owner)
    assert "member&#x27;s script" not in client.get("/account/tokens/").content.decode()
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert services.api_token_authenticate(secret) == token


def test_a_token_without_a_name_is_refused_with_422(world, login):
    client = login(world.buyer.member)
    response = client.post("/account/tokens/", {"name": "  "})
    assert response.status_code == 422
    assert not world.buyer.member.api_tokens.exists()
