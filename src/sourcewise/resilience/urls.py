from django.urls import path

from sourcewise.core import views as core_views

# The landing page keeps the URL name "incidents": the main navigation links to it.
urlpatterns = [
    path("incidents/", core_views.section, {"section": "incidents"}, name="incidents"),
]
