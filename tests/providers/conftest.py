"""Every providers test stores its evidence files in its own temporary folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _storage(settings, tmp_path):
    settings.STORAGE_ROOT = tmp_path / "storage"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(settings.STORAGE_ROOT)}}}
    return settings.STORAGE_ROOT
