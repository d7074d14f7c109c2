"""Reads Sourcewise's settings from environment variables, failing fast with the variable's name."""

from __future__ import annotations

import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Typed access to a mapping of environment variables; every error names the variable."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None else value.strip()

    def str(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self._raw(name)
        if value:
            return value
        if required or default is None:
            raise ImproperlyConfigured(f"Set the environment variable {name}: it is required.")
        return default

    def bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a boolean: use 1/0, true/false, yes/no or on/off."
        )

    def int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self._raw(name)
        if not value:
            return default
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
        return number

    def bytes(self, name: str, default: int) -> int:
        """A size such as 500MB, 2GiB or a plain number of bytes."""
        value = self._raw(name)
        if not value:
            return default
        units = {
            "": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
            "kib": 1024, "mib": 1024**2, "gib": 1024**3, "k": 1024, "m": 1024**2, "g": 1024**3,
        }
        number = value.rstrip("bBkKmMgGiI ")
        unit = value[len(number):].strip().lower()
        try:
            if unit not in units:
                raise ValueError
            size = int(float(number) * units[unit])
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}={value!r} is not a size: write e.g. 524288000, 500MB or 2GiB."
            ) from None
        if size <= 0:
            raise ImproperlyConfigured(f"{name}={value!r} must be larger than zero.")
        return size

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self._raw(name)
        if value is None:
            return default
        return [item.strip() for item in value.split(",") if item.strip()]

    def database(self, name: str, default: str) -> dict:
        import dj_database_url

        url = self._raw(name) or default
        try:
            config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        except Exception as exc:  # dj_database_url raises several kinds; all mean the same here
            raise ImproperlyConfigured(f"{name} is not a usable database URL: {exc}") from None
        if not config.get("ENGINE"):
            raise ImproperlyConfigured(f"{name}={url!r}: unknown database scheme.")
        return config

    def email(self, name: str, default: str) -> dict[str, object]:
        """EMAIL_URL: console://, locmem://, file:///path, smtp://user:pass@host:port, smtp+tls://..."""
        from urllib.parse import unquote, urlsplit

        url = self._raw(name) or default
        parts = urlsplit(url)
        backends = {
            "console": "django.core.mail.backends.console.EmailBackend",
            "locmem": "django.core.mail.backends.locmem.EmailBackend",
            "file": "django.core.mail.backends.filebased.EmailBackend",
            "smtp": "django.core.mail.backends.smtp.EmailBackend",
            "smtp+tls": "django.core.mail.backends.smtp.EmailBackend",
            "smtp+ssl": "django.core.mail.backends.smtp.EmailBackend",
        }
        if parts.scheme not in backends:
            raise ImproperlyConfigured(
                f"{name}={url!r}: the scheme must be one of {', '.join(sorted(backends))}."
            )
        config: dict[str, object] = {"EMAIL_BACKEND": backends[parts.scheme]}
        if parts.scheme == "file":
            config["EMAIL_FILE_PATH"] = parts.path
        if parts.scheme.startswith("smtp"):
            if not parts.hostname:
                raise ImproperlyConfigured(f"{name}={url!r}: an SMTP URL needs a host.")
            config.update(
                EMAIL_HOST=parts.hostname,
                EMAIL_PORT=parts.port or (465 if parts.scheme == "smtp+ssl" else 587),
                EMAIL_HOST_USER=unquote(parts.username or ""),
                EMAIL_HOST_PASSWORD=unquote(parts.password or ""),
                EMAIL_USE_TLS=parts.scheme == "smtp+tls",
                EMAIL_USE_SSL=parts.scheme == "smtp+ssl",
            )
        return config
