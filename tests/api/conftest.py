"""Fixtures for the JSON API tests: real personal tokens, sent as a real client would."""

from __future__ import annotations

import pytest


@pytest.fixture
def bearer(db):
    """Headers carrying a fresh personal token of `user` acting for `organization`."""
    from sourcewise.accounts.services import api_token_create

    def _bearer(user, organization, name: str = "test script") -> dict[str, str]:
        _token, secret = api_token_create(actor=user, organization=organization, name=name)
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    return _bearer
