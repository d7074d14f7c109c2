"""URL map: the pages of each app, the JSON API and the health check."""

from django.urls import include, path

from sourcewise.config.api import api
from sourcewise.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("", include("sourcewise.accounts.urls")),
    path("", include("sourcewise.core.urls")),
    path("", include("sourcewise.monitoring.urls")),
    path("", include("sourcewise.resilience.urls")),
    path("", include("sourcewise.providers.urls")),
    path("", include("sourcewise.colearning.urls")),
]

handler404 = "sourcewise.core.views.not_found"
handler403 = "sourcewise.core.views.forbidden"
