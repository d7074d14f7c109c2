from django.urls import path

from sourcewise.core import views

urlpatterns = [
    path("", views.home, name="home"),
    path("switch-organization/", views.switch_organization, name="switch_organization"),
    path("engagements/", views.engagement_index, name="engagement_list"),
    path("engagements/new/", views.engagement_new, name="engagement_new"),
    path("engagements/<int:pk>/", views.engagement_detail, name="engagement_detail"),
    path("engagements/<int:pk>/edit/", views.engagement_edit, name="engagement_edit"),
    path("engagements/<int:pk>/accept/", views.engagement_accept, name="engagement_accept"),
    path("engagements/<int:pk>/end/", views.engagement_end, name="engagement_end"),
]
