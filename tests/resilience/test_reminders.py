"""Reminders: by email and by a signed webhook, once a day, failures retried next time."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from sourcewise.resilience import reminders, services
from sourcewise.resilience.models import ReminderSent

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook_server():
    received = []

    class Handler(BaseHTTPRequestHandler):
        status = 204

        def do_POST(self):  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(Handler.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, Handler
    server.shutdown()


def _overdue_time():
    """A time past the incident's 2 h acknowledgement target whose local day lasts 2 h more,
    so that "once a day" is tested within one day at any hour the suite runs (it failed when
    run after 20:00 UTC: an hour later was tomorrow)."""
    later = timezone.now() + dt.timedelta(hours=3)
    if timezone.localtime(later).hour >= 21:
        later += dt.timedelta(hours=4)
    return later


def test_unacknowledged_incident_reminds_managers_by_email_and_signed_webhook(world, incident, hook_server):
    url, received, _handler = hook_server
    services.webhook_configure(actor=world.provider.manager, organization=world.provider.organization,
                               url=url, secret="a secret of sixteen+ chars")
    later = _overdue_time()  # the plan asks for acknowledgement within 2 h
    counts = reminders.send_reminders(now=later)
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == ["manager@dialwell.test", "manager@northwind.test", "owner@dialwell.test",
                          "owner@northwind.test"]
    assert "Not acknowledged" in mail.outbox[0].subject
    headers, body = received[0]
    expected = "sha256=" + hmac.new(b"a secret of sixteen+ chars", body, hashlib.sha256).hexdigest()
    assert headers["X-Sourcewise-Signature"] == expected
    assert json.loads(body)["incident"] == incident.pk
    assert counts == {"sent": 5, "skipped": 0, "failed": 0}
    # Not twice in a day.
    again = reminders.send_reminders(now=later + dt.timedelta(hours=1))
    assert again["sent"] == 0 and len(mail.outbox) == 4 and len(received) == 1


def test_nothing_is_sent_before_the_acknowledgement_is_due_or_after_it(world, incident):
    assert reminders.send_reminders(now=timezone.now())["sent"] == 0
    services.incident_acknowledge(actor=world.provider.manager, incident=incident,
                                  expected_version=incident.version, caused_by="provider",
                                  statement="We own this failure and we are sorry for it.")
    assert reminders.send_reminders(now=timezone.now() + dt.timedelta(days=1))["sent"] == 0


def test_overdue_control_reminds_its_owner(world, incident):
    services.control_add(actor=world.provider.member, incident=incident, description="Add a segment check",
                         owner=world.provider.member, due_on=timezone.localdate() - dt.timedelta(days=1))
    services.incident_acknowledge(actor=world.provider.manager, incident=incident,
                                  expected_version=incident.version, caused_by="provider",
                                  statement="We own this failure and we are sorry for it.")
    reminders.send_reminders()
    assert [m.to for m in mail.outbox] == [["member@dialwell.test"]]
    assert "Overdue preventive control" in mail.outbox[0].subject


def test_failed_webhook_is_logged_never_raises_and_is_retried_next_run(world, incident, hook_server):
    url, received, handler = hook_server
    services.webhook_configure(actor=world.buyer.manager, organization=world.buyer.organization,
                               url=url, secret="a secret of sixteen+ chars")
    handler.status = 500
    later = _overdue_time()
    counts = reminders.send_reminders(now=later)
    assert counts["failed"] == 1
    failed = ReminderSent.objects.get(channel="webhook")
    assert not failed.ok and "500" in failed.error
    handler.status = 204
    counts = reminders.send_reminders(now=later + dt.timedelta(minutes=5))
    assert counts["sent"] == 1 and len(received) == 2


def test_webhook_needs_a_manager_and_a_real_secret(world):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(PermissionDenied):
        services.webhook_configure(actor=world.buyer.member, organization=world.buyer.organization,
                                   url="https://x.test/h", secret="a secret of sixteen+ chars")
    with pytest.raises(ValidationError) as caught:
        services.webhook_configure(actor=world.buyer.manager, organization=world.buyer.organization,
                                   url="not a url", secret="short")
    assert set(caught.value.message_dict) == {"url", "secret"}


def test_periodic_job_is_declared_for_the_worker():
    from sourcewise.resilience.periodic import JOBS

    name, every, job = JOBS[0]
    assert (name, every) == ("resilience-reminders", 3600) and job is reminders.send_reminders
