from django.urls import path

from sourcewise.monitoring import views

# The landing page keeps the URL name "monitoring": the main navigation links to it.
urlpatterns = [
    path("monitoring/", views.landing, name="monitoring"),
    path("monitoring/engagements/<int:pk>/feeds/new/", views.feed_new, name="monitoring_feed_new"),
    path("monitoring/engagements/<int:pk>/scorecard/", views.engagement_scorecard,
         name="monitoring_engagement_scorecard"),
    path("monitoring/providers/<int:pk>/scorecard/", views.provider_scorecard,
         name="monitoring_provider_scorecard"),
    path("monitoring/feeds/<int:pk>/", views.feed_detail, name="monitoring_feed"),
    path("monitoring/feeds/<int:pk>/edit/", views.feed_edit, name="monitoring_feed_edit"),
    path("monitoring/feeds/<int:pk>/suite/", views.suite_save, name="monitoring_suite_save"),
    path("monitoring/feeds/<int:pk>/suite/validate/", views.suite_validate, name="monitoring_suite_validate"),
    path("monitoring/feeds/<int:pk>/suite/preview/", views.suite_preview, name="monitoring_suite_preview"),
    path("monitoring/feeds/<int:pk>/deliveries/", views.delivery_upload, name="monitoring_delivery_upload"),
    path("monitoring/feeds/<int:pk>/locations/", views.delivery_register, name="monitoring_delivery_register"),
    path("monitoring/deliveries/<int:pk>/", views.delivery_detail, name="monitoring_delivery"),
    path("monitoring/deliveries/<int:pk>/file/", views.delivery_download, name="monitoring_delivery_file"),
    path("monitoring/deliveries/<int:pk>/rerun/", views.delivery_rerun, name="monitoring_delivery_rerun"),
    path("monitoring/runs/<int:pk>/", views.run_detail, name="monitoring_run"),
    path("monitoring/findings/", views.finding_index, name="monitoring_findings"),
    path("monitoring/findings/<int:pk>/", views.finding_detail, name="monitoring_finding"),
    path("monitoring/findings/<int:pk>/download/", views.finding_download, name="monitoring_finding_download"),
]
