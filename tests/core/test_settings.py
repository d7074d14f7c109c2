"""Settings come from the environment and fail fast, naming the variable; the health check."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError

from sourcewise.config.env import Env

GOOD_SECRET = "a-secret-key-long-enough-for-the-settings-check-0123"


# --- Env, on a fake environment ---------------------------------------------------------


def test_a_required_variable_that_is_missing_is_named():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        Env({}).str("SECRET_KEY", required=True)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        Env({"SECRET_KEY": "   "}).str("SECRET_KEY", required=True)
    assert Env({"SECRET_KEY": " abc "}).str("SECRET_KEY", required=True) == "abc"
    assert Env({}).str("SITE_URL", "http://x") == "http://x"


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("TRUE", True), ("yes", True), ("on", True),
    ("0", False), ("false", False), ("No", False), ("off", False), ("", False),
])
def test_booleans_parse(raw, expected):
    assert Env({"DEBUG": raw}).bool("DEBUG", not expected) is expected


def test_a_malformed_boolean_is_named():
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='maybe' is not a boolean"):
        Env({"DEBUG": "maybe"}).bool("DEBUG", False)
    assert Env({}).bool("DEBUG", True) is True


@pytest.mark.parametrize(("raw", "expected"), [
    ("500MB", 500_000_000), ("2GiB", 2 * 1024**3), ("2 GiB", 2 * 1024**3), ("1024", 1024),
    ("10kb", 10_000), ("1.5G", int(1.5 * 1024**3)), ("", 7),
])
def test_sizes_parse(raw, expected):
    assert Env({"UPLOAD_MAX_BYTES": raw}).bytes("UPLOAD_MAX_BYTES", 7) == expected


@pytest.mark.parametrize("raw", ["lots", "5XB", "MB", "0", "-1MB"])
def test_a_malformed_size_is_named(raw):
    with pytest.raises(ImproperlyConfigured, match="UPLOAD_MAX_BYTES"):
        Env({"UPLOAD_MAX_BYTES": raw}).bytes("UPLOAD_MAX_BYTES", 1)


def test_whole_numbers_parse_and_bad_ones_are_named():
    assert Env({"HSTS_SECONDS": "31_536_000"}).int("HSTS_SECONDS", 0) == 31_536_000
    with pytest.raises(ImproperlyConfigured, match="LOGIN_THROTTLE_LIMIT='five'"):
        Env({"LOGIN_THROTTLE_LIMIT": "five"}).int("LOGIN_THROTTLE_LIMIT", 5)
    with pytest.raises(ImproperlyConfigured, match="LOGIN_THROTTLE_LIMIT=0 is below the minimum of 1"):
        Env({"LOGIN_THROTTLE_LIMIT": "0"}).int("LOGIN_THROTTLE_LIMIT", 5, minimum=1)


def test_database_urls_parse_and_bad_ones_are_named():
    config = Env({"DATABASE_URL": "postgresql://app:pw@db.internal:5433/sourcewise"}).database(
        "DATABASE_URL", "sqlite:///x.sqlite3")
    assert (config["ENGINE"], config["HOST"], config["PORT"], config["NAME"]) == (
        "django.db.backends.postgresql", "db.internal", 5433, "sourcewise")
    for bad in ("mongodb://db/x", "not a url"):
        with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
            Env({"DATABASE_URL": bad}).database("DATABASE_URL", "sqlite:///x.sqlite3")


def test_email_urls_parse_and_bad_ones_are_named():
    smtp = Env({"EMAIL_URL": "smtp+tls://mailer:p%40ss@smtp.example.test"}).email("EMAIL_URL", "console://")
    assert smtp["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (smtp["EMAIL_HOST"], smtp["EMAIL_PORT"], smtp["EMAIL_HOST_USER"], smtp["EMAIL_HOST_PASSWORD"]) == (
        "smtp.example.test", 587, "mailer", "p@ss")
    assert smtp["EMAIL_USE_TLS"] is True
    assert Env({}).email("EMAIL_URL", "console://")["EMAIL_BACKEND"].endswith("console.EmailBackend")
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL='pigeon://loft'"):
        Env({"EMAIL_URL": "pigeon://loft"}).email("EMAIL_URL", "console://")
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL=.*needs a host"):
        Env({"EMAIL_URL": "smtp://"}).email("EMAIL_URL", "console://")


# --- the real settings module, in a clean process ----------------------------------------


def _settings_process(tmp_path, code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "sourcewise.config.settings",
        "SOURCEWISE_DATA_DIR": str(tmp_path),
        **env,
    }
    return subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", f"from django.conf import settings\n{code}"],
        env=clean, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )


def test_without_secret_key_and_debug_the_settings_refuse_to_load(tmp_path):
    result = _settings_process(tmp_path, "settings.SECRET_KEY")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set the environment variable SECRET_KEY: it is required." in result.stderr


def test_a_short_secret_key_is_refused(tmp_path):
    result = _settings_process(tmp_path, "settings.SECRET_KEY", SECRET_KEY="short")
    assert result.returncode != 0
    assert "SECRET_KEY must be at least 32 characters long." in result.stderr


@pytest.mark.parametrize(("name", "value"), [
    ("DEBUG", "perhaps"),
    ("UPLOAD_MAX_BYTES", "a lot"),
    ("DATABASE_URL", "mongodb://db/sourcewise"),
    ("EMAIL_URL", "pigeon://loft"),
    ("LOGIN_THROTTLE_LIMIT", "0"),
])
def test_a_malformed_variable_stops_the_settings_and_is_named(tmp_path, name, value):
    result = _settings_process(tmp_path, "settings.DEBUG", SECRET_KEY=GOOD_SECRET, **{name: value})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured")
    assert name in last_line


DUMP = (
    "import json; print(json.dumps({k: getattr(settings, k) for k in ("
    "'DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', "
    "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'UPLOAD_MAX_BYTES', 'ALLOWED_HOSTS')}))"
)


def test_without_debug_cookies_are_secure_and_hsts_is_on(tmp_path):
    result = _settings_process(tmp_path, DUMP, SECRET_KEY=GOOD_SECRET, UPLOAD_MAX_BYTES="500MB")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["UPLOAD_MAX_BYTES"] == 500_000_000
    assert values["ALLOWED_HOSTS"] == []


def test_debug_allows_a_development_key_and_plain_http(tmp_path):
    result = _settings_process(tmp_path, DUMP, DEBUG="1")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["DEBUG"] is True
    assert values["SESSION_COOKIE_SECURE"] is False and values["SECURE_HSTS_SECONDS"] == 0
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]


def test_https_responses_carry_hsts(db, client, settings):
    response = client.get("/login/", secure=True)
    assert response["Strict-Transport-Security"] == (
        f"max-age={settings.SECURE_HSTS_SECONDS}; includeSubDomains"
    )
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


# --- health check -----------------------------------------------------------------------


def test_healthz_answers_ok_as_json(db, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_503_when_the_database_is_unreachable(db, client, monkeypatch):
    from django.db import connection

    def unreachable(*args, **kwargs):
        raise OperationalError('connection to server at "db.internal" failed: password for "app"')

    with monkeypatch.context() as patch:  # undone before the test database is torn down
        patch.setattr(connection, "cursor", unreachable)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
    # The reason is for the operator's log, not for whoever asks.
    assert b"db.internal" not in response.content
