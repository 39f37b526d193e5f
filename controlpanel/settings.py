"""Settings of the control panel. Every value comes from the environment (see README, "Settings").

Defaults run the embedded default: SQLite in WAL mode and Redis on loopback, data under ``var/``.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from controlpanel.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("CONTROLPANEL_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else a generated key kept in DATA_DIR (mode 0600)."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Reverse proxies (addresses or networks) whose X-Forwarded-For is believed; none by default.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    "axes",
    "core",
    "clusters",
    "workloads",
    "cameras",
    "faces",
    "controlpanel",
]

MIDDLEWARE = [
    # First: counts and times every request (controlpanel/metrics.py, /metrics).
    "controlpanel.metrics.metrics_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a locked-out log-in into the page that says until when.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "controlpanel.urls"
WSGI_APPLICATION = "controlpanel.wsgi.application"
ASGI_APPLICATION = "controlpanel.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.roles",
            ],
        },
    },
]


# Database: SQLite (WAL, so web, worker and beat write at once) unless DATABASE_URL says otherwise.
def sqlite_database(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
            ),
        },
    }


def url_database(url: str) -> dict:
    # Connections are kept for a minute and checked before reuse, so a restarted PostgreSQL
    # costs a reconnect, not an error on every connection it had.
    database = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    # Under ASGI every request runs in a thread of its own, so a kept connection is never reused:
    # each request connects anew and leaves an idle connection behind. DATABASE_POOL=1 (for the
    # web process only: a pool must not cross Celery's fork) lends connections from a pool
    # instead, each checked as it is lent. Measured: half the latency of a small list. Off by
    # default until a database outage is shown to cost live camera viewers nothing with it.
    if env_bool("DATABASE_POOL", False) and database["ENGINE"].endswith("postgresql"):
        database["CONN_MAX_AGE"] = 0
        database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 2,
            "max_size": env_int("DATABASE_POOL_SIZE", 20),
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 2.0),
        }
    return database


DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": url_database(DATABASE_URL)}
else:
    DATABASES = {"default": sqlite_database(DATA_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Log-in throttling (django-axes): LOGIN_FAILURE_LIMIT failed log-ins for one account from one
# address lock that pair out for LOGIN_COOLOFF_SECONDS (each further try starts it again). The
# pair, not the account alone: an attacker elsewhere cannot lock an admin out from everywhere.
# Every `authenticate()` goes through it: the log-in page and the admin site (the API takes
# tokens only, no passwords). Admins unlock early with `manage.py axes_reset_username NAME`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("LOGIN_COOLOFF_SECONDS", 900))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The address as the audit log has it: X-Forwarded-For only from TRUSTED_PROXIES.
AXES_CLIENT_IP_CALLABLE = "core.services.request_client_address"
AXES_LOCKOUT_CALLABLE = "core.views.login_locked_out"
AXES_DISABLE_ACCESS_LOG = True  # the audit log records log-ins
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["controlpanel.formats"]  # one date format everywhere
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Static files are served by WhiteNoise straight from the apps: no collectstatic step to forget.
WHITENOISE_USE_FINDERS = True
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "media/"

# Redis: Celery broker and the Channels layer.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Wait for Redis as long as it takes: a worker that gives up after 100 tries stays down (and
# under honcho takes the whole panel with it).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600)
# Celery's consumer, fixed to keep consuming after Redis restarts while tasks run (see there).
CELERY_WORKER_CONSUMER = "controlpanel.celery:Consumer"
# Run monitors last as long as their runs (a camera stream: for ever) and mostly wait on I/O:
# they have a queue of their own, served by a thread-pool worker, so they never take the slots
# that provisioning and submissions need. A worker started without -Q serves both queues.
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Face images have a queue and a worker of their own too (FACES_CONCURRENCY processes), so a
# backlog of a million images never delays a submission or a provisioning.
FACES_QUEUE = "faces"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("monitors"), Queue(FACES_QUEUE))
CELERY_TASK_ROUTES = {
    "workloads.tasks.run_monitor_task": {"queue": "monitors"},
    "faces.tasks.image_process_task": {"queue": FACES_QUEUE},
}
HEALTH_CHECK_INTERVAL = env_int("HEALTH_CHECK_INTERVAL", 60)
# How long each cluster's health checks are kept for its history chart.
HEALTH_HISTORY_DAYS = env_int("HEALTH_HISTORY_DAYS", 7)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # channels-redis waits for messages with 5 s blocking pops; redis-py 8 stops reading a
        # socket after 5 s by default, which turned every idle wait into "Timeout reading from
        # ...". Reads may take longer than a pop; a dead connection still fails after 15 s.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
            "capacity": 1000,
            "expiry": 30,
        },  # fmt: skip
    }
}

# Secrets at rest: Fernet keys, newest first, from ENCRYPTION_KEYS or the key file.
ENCRYPTION_KEYS = env_list("ENCRYPTION_KEYS", [])
ENCRYPTION_KEY_FILE = Path(env_str("ENCRYPTION_KEY_FILE", str(DATA_DIR / "encryption.keys")))

# The panel inside a Kubernetes cluster (docker/kubernetes/): it offers that cluster as "this
# cluster", reached through its own ServiceAccount (the token and CA a pod has mounted), and only
# that cluster's Services are reached by their cluster DNS names. On unless said otherwise when
# the pod's service environment and token are there.
IN_CLUSTER_TOKEN_PATH = Path(
    env_str("IN_CLUSTER_TOKEN_PATH", "/var/run/secrets/kubernetes.io/serviceaccount/token")
)
IN_CLUSTER_CA_PATH = Path(
    env_str("IN_CLUSTER_CA_PATH", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
)
IN_CLUSTER = env_bool(
    "IN_CLUSTER",
    bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and IN_CLUSTER_TOKEN_PATH.exists(),
)
IN_CLUSTER_NAME = env_str("IN_CLUSTER_NAME", "this-cluster")
# Where this cluster's runs go; the panel needs controlpanel-workloads there.
IN_CLUSTER_NAMESPACE = env_str("IN_CLUSTER_NAMESPACE", "default")

# The local cluster: runs workloads as processes on this machine, data under this folder. Off
# by default in a cluster: its "processes" would be children of one web or worker pod.
LOCAL_CLUSTER_ENABLED = env_bool("LOCAL_CLUSTER_ENABLED", not IN_CLUSTER)
LOCAL_CLUSTER_NAME = env_str("LOCAL_CLUSTER_NAME", socket.gethostname() or "local")
LOCAL_DATA_ROOT = Path(env_str("LOCAL_DATA_ROOT", str(DATA_DIR / "local"))).resolve()
KUBERNETES_REQUEST_TIMEOUT = env_int("KUBERNETES_REQUEST_TIMEOUT", 10)
KUBERNETES_CONNECT_TIMEOUT = env_int("KUBERNETES_CONNECT_TIMEOUT", 3)
# Networks imported clusters may be reached on (empty: any, except link-local and metadata).
CLUSTER_ALLOWED_NETWORKS = env_list("CLUSTER_ALLOWED_NETWORKS", [])
# Camera devices (v4l2:/dev/videoN) camera streams may open; none unless an admin lists them.
CAMERA_DEVICES = env_list("CAMERA_DEVICES", [])
# How a stream pod reaches an Akri broker: "dns" (the instance Service's cluster DNS name) or
# "endpoints" (the broker pod's address, for clusters without DNS or kube-proxy).
AKRI_BROKER_ADDRESS = env_str("AKRI_BROKER_ADDRESS", "dns")
if AKRI_BROKER_ADDRESS not in ("dns", "endpoints"):
    raise ImproperlyConfigured(f"AKRI_BROKER_ADDRESS={AKRI_BROKER_ADDRESS!r}: use dns or endpoints")
AKRI_SYNC_INTERVAL = env_int("AKRI_SYNC_INTERVAL", 60)

# The face-recognition service (faces/): the cluster whose newest running
# face-recognition-service run is the back-end ("local": the embedded one), matching, retries,
# the circuit breaker and beat's recovery of rows the queue lost.
FACES_CLUSTER = env_str("FACES_CLUSTER", "local" if LOCAL_CLUSTER_ENABLED else IN_CLUSTER_NAME)
FACES_TOLERANCE = env_float("FACES_TOLERANCE", 0.6)
FACES_UPLOAD_MAX_BYTES = env_int("FACES_UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
FACES_BACKEND_CONNECT_TIMEOUT = env_float("FACES_BACKEND_CONNECT_TIMEOUT", 3)
FACES_BACKEND_TIMEOUT = env_float("FACES_BACKEND_TIMEOUT", 60)
FACES_MAX_ATTEMPTS = env_int("FACES_MAX_ATTEMPTS", 5)
FACES_RETRY_DELAY = env_float("FACES_RETRY_DELAY", 2)
FACES_RETRY_MAX_DELAY = env_float("FACES_RETRY_MAX_DELAY", 60)
FACES_BREAKER_FAIL_MAX = env_int("FACES_BREAKER_FAIL_MAX", 5)
FACES_BREAKER_WAIT = env_float("FACES_BREAKER_WAIT", 10)
FACES_BREAKER_MAX_WAIT = env_float("FACES_BREAKER_MAX_WAIT", 300)
FACES_PROBE_INTERVAL = env_float("FACES_PROBE_INTERVAL", 5)
FACES_REQUEUE_AFTER = env_float("FACES_REQUEUE_AFTER", 180)
FACES_REQUEUE_INTERVAL = env_float("FACES_REQUEUE_INTERVAL", 30)
FACES_REQUEUE_BATCH = env_int("FACES_REQUEUE_BATCH", 1000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Control panel API",
    "DESCRIPTION": (
        "Clusters, credentials, workload templates and runs for computer-vision workloads on "
        "Kubernetes. Authenticate with `Authorization: Token <token>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from the panel itself: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CredentialKindEnum": "clusters.choices.CredentialKind",
        "ClusterKindEnum": "clusters.choices.ClusterKind",
        "ClusterStatusEnum": "clusters.choices.ClusterStatus",
        "FaceImageStatusEnum": "faces.choices.ImageStatus",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"refusals_one_line": {"()": "core.logs.RefusalsOneLine"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["refusals_one_line"],
        },
    },  # fmt: skip
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "azure": {"level": "WARNING"},
        "kubernetes": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # faiss reports at every start which CPU build it loaded.
        "faiss.loader": {"level": "WARNING"},
    },
}

# Azure endpoints (a sovereign cloud, or the test suite's fake Resource Manager, can replace them).
AZURE_AUTHORITY_HOST = env_str("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com")
AZURE_RESOURCE_MANAGER_URL = env_str("AZURE_RESOURCE_MANAGER_URL", "https://management.azure.com")
AZURE_TOKEN_AUDIENCE = env_str("AZURE_TOKEN_AUDIENCE", "https://management.azure.com")
AZURE_DISABLE_INSTANCE_DISCOVERY = env_bool("AZURE_DISABLE_INSTANCE_DISCOVERY", False)
AZURE_CA_BUNDLE = env_str("AZURE_CA_BUNDLE", "")

# Prometheus /metrics (docs/monitoring.md): served only to a request with this bearer token or
# from these networks (addresses or CIDRs, as the client address is seen; TRUSTED_PROXIES
# apply); neither set: /metrics answers 404.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", [])

RECONCILE_INTERVAL = env_int("RECONCILE_INTERVAL", 30)
CELERY_BEAT_SCHEDULE = {
    # Akri instances become cameras, gone ones are marked gone.
    "cameras-akri-sync": {
        "task": "cameras.tasks.akri_cameras_sync_all_task",
        "schedule": AKRI_SYNC_INTERVAL,
    },
    "cluster-health": {
        "task": "clusters.tasks.cluster_health_check_all",
        "schedule": HEALTH_CHECK_INTERVAL,
    },
    # Runs whose monitor died, objects deleted behind the panel's back, finished objects.
    "workloads-reconcile": {
        "task": "workloads.tasks.runs_reconcile",
        "schedule": RECONCILE_INTERVAL,
    },
    # Azure operations (create, scale, delete...) whose worker died mid-poll.
    # Open circuits of face back-ends: one probe each once their wait is over.
    "faces-backends-probe": {
        "task": "faces.tasks.backends_probe_task",
        "schedule": FACES_PROBE_INTERVAL,
    },
    # Face images whose processor died or whose queue message was lost.
    "faces-requeue-stale": {
        "task": "faces.tasks.images_requeue_stale_task",
        "schedule": FACES_REQUEUE_INTERVAL,
    },
    "azure-operations-resume": {
        "task": "clusters.azure.tasks.azure_operations_resume",
        "schedule": RECONCILE_INTERVAL,
    },
}
