"""Deliveries registered as object-store locations (`s3://bucket/key`, on S3 or an S3-compatible store).

The worker opens the object here and streams its body into storage (core.storage); every
way it can fail becomes a `LocationProblem` saying, in the user's words, what is wrong.
Settings: S3_ENDPOINT_URL (MinIO and the like; empty for AWS), S3_REGION; credentials come
from the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
or the machine's role, as boto3 finds them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

SCHEME = "s3://"
# S3's bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class LocationProblem(Exception):
    """An object that cannot be copied in; the message says why."""


@dataclass(frozen=True)
class ObjectLocation:
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    @property
    def filename(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DropLocation:
    """A file the provider placed in a drop folder inside the storage root (relative path)."""

    relative_path: str

    @property
    def url(self) -> str:
        return self.relative_path

    @property
    def filename(self) -> str:
        return self.relative_path.rsplit("/", 1)[-1]


def location_of(text: str) -> ObjectLocation | DropLocation:
    """A registered location as stored on its UploadSession: an s3:// URL or a drop-folder path."""
    return parse(text) if is_object_url(text) else DropLocation(text)


def open_location(location: ObjectLocation | DropLocation) -> Any:
    """The location's bytes as a stream read in blocks; LocationProblem when it cannot be read."""
    if isinstance(location, ObjectLocation):
        return open_object(location)
    from sourcewise.core import storage

    try:
        return open(storage.path_of(location.relative_path), "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise LocationProblem(f"No file at '{location.relative_path}' inside the storage root any more: "
                              "it was moved or removed before the worker copied it.") from None
    except OSError as exc:
        raise LocationProblem(f"'{location.relative_path}' could not be read: {exc.strerror or exc}.") from None


def is_object_url(text: str) -> bool:
    return "://" in text


def parse(text: str) -> ObjectLocation:
    """`s3://bucket/key` as an ObjectLocation; ValueError naming what is wrong otherwise."""
    text = text.strip()
    scheme = text.split("://", 1)[0].lower()
    if scheme != "s3":
        raise ValueError(f"Only s3:// object-store URLs can be registered ({scheme}:// cannot); "
                         "or give a path inside the storage root.")
    bucket, _, key = text[len(SCHEME):].partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"'{bucket}' is not a bucket name: write s3://bucket/path/to/file.parquet.")
    if not key or key.endswith("/"):
        raise ValueError("Name one object, not a bucket or a folder: s3://bucket/path/to/file.parquet.")
    return ObjectLocation(bucket=bucket, key=key)


def client() -> Any:
    import boto3
    from botocore.config import Config

    endpoint = settings.S3_ENDPOINT_URL or None
    # S3-compatible stores (MinIO) answer at one host: bucket in the path, not the host name.
    config = Config(s3={"addressing_style": "path" if endpoint else "auto"},
                    retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint, region_name=settings.S3_REGION or None, config=config)


def open_object(location: ObjectLocation) -> Any:
    """The object's body as a stream read in blocks (`read(n)`, `close()`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client().get_object(Bucket=location.bucket, Key=location.key)
    except ClientError as exc:
        raise LocationProblem(describe(exc, location)) from None
    except BotoCoreError as exc:
        raise LocationProblem(f"The object store could not be reached for {location.url}: {exc}") from None
    return answer["Body"]


def describe(exc: Exception, location: ObjectLocation) -> str:
    """A boto error in the user's words."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return ("The server has no object-store credentials (AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY), so {location.url} could not be read.")
    if not isinstance(exc, ClientError):
        return f"{location.url} could not be read to the end: {exc}"
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    if code in ("NoSuchKey", "404", "NotFound"):
        return f"There is no object {location.url}."
    if code == "NoSuchBucket":
        return f"There is no bucket '{location.bucket}' in the object store."
    if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return (f"The object store denied access to {location.url} ({code}): check the server's "
                "credentials and the bucket's policy.")
    return f"The object store refused {location.url}: {code} {error.get('Message', '')}".strip()
