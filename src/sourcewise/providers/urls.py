from django.urls import path

from sourcewise.core import views as core_views

# The landing page keeps the URL name "providers": the main navigation links to it.
urlpatterns = [
    path("providers/", core_views.section, {"section": "providers"}, name="providers"),
]
