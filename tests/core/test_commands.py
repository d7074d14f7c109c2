"""The command line: the demo, the audit check, the `sourcewise` entry point, the pure engine."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from sourcewise.accounts.models import Membership, Organization, User
from sourcewise.core.models import AuditEvent, Engagement
from sourcewise.demo import story

BIN = Path(sys.executable).parent
SECRET = "test-secret-key-that-is-long-enough-for-django-0123456789"


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count()
            for model in (Organization, User, Membership, Engagement, AuditEvent)}


def _demo() -> str:
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_demo_loads_once_however_often_it_runs_and_prints_the_logins():
    output = _demo()
    first = _counts()
    assert first["Organization"] == len(story.ORGANIZATIONS)
    assert first["User"] == len(story.PEOPLE)
    assert first["Engagement"] == len(story.ENGAGEMENTS)
    assert Engagement.objects.filter(status="active").count() == len(story.ENGAGEMENTS)
    for email, name, _roles, _about in story.PEOPLE:
        assert email in output and name in output
    assert f"password for every demo login: {story.DEMO_PASSWORD}" in output

    again = _demo()
    assert _counts() == first
    assert "vm@northwind.demo" in again

    # The printed logins work.
    assert User.objects.get(email="vm@northwind.demo").check_password(story.DEMO_PASSWORD)
    advisor = User.objects.get(email="advisor@sourcewise.demo")
    assert {m.organization.slug for m in advisor.memberships.all()} == {"northwind", "brightline"}


@pytest.mark.django_db
def test_the_demo_has_an_intact_audit_trail():
    _demo()
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    assert f"Audit trail intact: {AuditEvent.objects.count()} records verified." in out.getvalue()
    assert AuditEvent.objects.filter(action="engagement.accept").count() == len(story.ENGAGEMENTS)


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SOURCEWISE_DATA_DIR": str(tmp_path), **env}
    return subprocess.run(  # noqa: S603 (our own entry points)
        args, env=clean, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )


def test_the_sourcewise_command_dispatches_django_commands(tmp_path):
    result = _run([str(BIN / "sourcewise"), "systemcheck"], tmp_path, SECRET_KEY=SECRET)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout

    result = _run([str(BIN / "sourcewise"), "help"], tmp_path, SECRET_KEY=SECRET)
    assert result.returncode == 0, result.stderr
    for command in ("demo", "audit", "serve", "worker", "systemcheck"):
        assert command in result.stdout


def test_python_dash_m_sourcewise_is_the_same_command(tmp_path):
    result = _run([sys.executable, "-m", "sourcewise", "systemcheck"], tmp_path, SECRET_KEY=SECRET)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_a_command_without_configuration_fails_with_the_variable_named(tmp_path):
    result = _run([str(BIN / "sourcewise"), "systemcheck"], tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_the_engine_imports_without_django(tmp_path):
    try:
        import sourcewise.engine  # noqa: F401
    except ImportError as exc:  # another engineer is writing it
        pytest.skip(f"sourcewise.engine is not importable yet: {exc}")
    result = _run(
        [sys.executable, "-c", "import sourcewise.engine, sys; assert 'django' not in sys.modules, "
         "sorted(m for m in sys.modules if m.startswith('django'))"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
