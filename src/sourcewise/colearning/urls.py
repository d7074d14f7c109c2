from django.urls import path

from sourcewise.core import views as core_views

# The landing page keeps the URL name "colearning": the main navigation links to it.
urlpatterns = [
    path("co-learning/", core_views.section, {"section": "colearning"}, name="colearning"),
]
