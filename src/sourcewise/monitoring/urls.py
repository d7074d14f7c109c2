from django.urls import path

from sourcewise.core import views as core_views

# The landing page keeps the URL name "monitoring": the main navigation links to it.
urlpatterns = [
    path("monitoring/", core_views.section, {"section": "monitoring"}, name="monitoring"),
]
