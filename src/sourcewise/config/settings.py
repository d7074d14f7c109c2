"""Django settings: every value that varies comes from an environment variable read here."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from sourcewise.config.env import Env

env = Env()
PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Where the embedded defaults keep their files: the SQLite database and stored deliveries.
DATA_DIR = Path(env.str("SOURCEWISE_DATA_DIR", str(Path.cwd() / "var"))).resolve()

DEBUG = env.bool("DEBUG", False)
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", "insecure-development-key-only-for-DEBUG-1")
else:
    SECRET_KEY = env.str("SECRET_KEY", required=True)
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env.str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "template_partials",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "sourcewise.core",
    "sourcewise.accounts",
    "sourcewise.monitoring",
    "sourcewise.resilience",
    "sourcewise.providers",
    "sourcewise.colearning",
    "sourcewise.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "sourcewise.core.middleware.ActiveOrganizationMiddleware",
]

ROOT_URLCONF = "sourcewise.config.urls"
WSGI_APPLICATION = "sourcewise.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sourcewise.core.context_processors.shell",
            ],
        },
    },
]

DATABASES = {
    "default": env.database("DATABASE_URL", f"sqlite:///{DATA_DIR / 'sourcewise.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Web server and worker share the file: wait for a lock instead of failing at once,
    # and take the write lock at the start of a transaction so upgrades cannot deadlock.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failed logins allowed per account (and per client address) in LOGIN_THROTTLE_WINDOW seconds.
LOGIN_THROTTLE_LIMIT = env.int("LOGIN_THROTTLE_LIMIT", 5, minimum=1)
LOGIN_THROTTLE_WINDOW = env.int("LOGIN_THROTTLE_WINDOW", 900, minimum=1)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", 7, minimum=1)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Only for `collectstatic` deployments; by default assets are served from the apps (below).
STATIC_ROOT = env.str("STATIC_ROOT", "") or None
STORAGE_ROOT = Path(env.str("STORAGE_ROOT", str(DATA_DIR / "storage"))).resolve()
# The engine's compiled-plan cache for check runs (SQL text only, no data): a feed's daily run
# of the same suite on the same schema skips compiling. Kept with the rest of the data.
ENGINE_PLAN_CACHE_DIR = Path(env.str("ENGINE_PLAN_CACHE_DIR", str(DATA_DIR / "cache" / "plans"))).resolve()
MEDIA_ROOT = STORAGE_ROOT
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(STORAGE_ROOT)},
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
# Serve assets straight from the apps' static folders: no collectstatic step to forget.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Largest upload accepted (deliveries, evidence); bigger ones are refused, not truncated.
UPLOAD_MAX_BYTES = env.bytes("UPLOAD_MAX_BYTES", 2 * 1024**3)
# Largest decompressed working copy of a .jsonl.gz delivery (the engine cannot read it gzipped).
UPLOAD_MAX_EXPANDED_BYTES = env.bytes("UPLOAD_MAX_EXPANDED_BYTES", 10 * UPLOAD_MAX_BYTES)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024**2
# Deliveries registered as s3://bucket/key: the S3-compatible endpoint (MinIO; empty for AWS)
# and region. Credentials: the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables.
S3_ENDPOINT_URL = env.str("S3_ENDPOINT_URL", "")
S3_REGION = env.str("S3_REGION", "")
# A check run whose worker has given no sign of life for this long is retried once, then failed.
MONITORING_STALE_RUN_SECONDS = env.int("MONITORING_STALE_RUN_SECONDS", 300, minimum=30)
# An idea on hold until an event (no date) is brought back to the client this often, in days.
COLEARNING_TRIGGER_REVIEW_DAYS = env.int("COLEARNING_TRIGGER_REVIEW_DAYS", 30, minimum=1)

_email = env.email("EMAIL_URL", "console://")
EMAIL_BACKEND = _email.pop("EMAIL_BACKEND")
globals().update(_email)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Sourcewise <sourcewise@localhost>")

TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# Security: safe unless DEBUG is on. HSTS is only ever sent on HTTPS responses.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("HSTS_SECONDS", 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
CSRF_FAILURE_VIEW = "sourcewise.core.views.csrf_failure"
AUTH_USER_MODEL = "accounts.User"
