"""Co-learning fixtures: a challenge on the world's engagement, and call-record files."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

HEADER = ("call_date,account_id,segment,right_party_contact,promise_to_pay,promise_kept,"
          "handle_seconds,amount_collected,cost\n")
GOOD = HEADER + (
    "2026-01-05,A1,retail,true,true,true,100,50.0,5.0\n"
    "2026-01-06,A1,retail,false,false,false,20,0,1.0\n"
    "2026-02-03,A3,card,true,true,true,100,150.0,6.0\n"
)


def upload(text: str, name: str = "calls.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


@pytest.fixture(autouse=True)
def _storage(settings, tmp_path):
    """Uploads go to a folder of the test's own."""
    settings.STORAGE_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path)}}}


@pytest.fixture
def challenge(world):
    from sourcewise.colearning import services

    return services.challenge_create(
        actor=world.buyer.manager, engagement=world.engagement,
        problem="Reduce the cost of the collections process",
        outcome="Cost per amount collected down 20% in two quarters",
        courage_access="Shadow agents; call customers in arrears",
        courage_consent="Customers agree at the start of each call", courage_limits="No recording",
        budget_shadowing_planned="12000", budget_testing_planned="30000",
        stories_customers="A customer who felt ashamed to call back",
    )
