from django.urls import path

from sourcewise.resilience import views

# The landing page keeps the URL name "incidents": the main navigation links to it.
urlpatterns = [
    path("incidents/", views.incident_index, name="incidents"),
    path("incidents/new/", views.incident_new, name="incident_new"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident_detail"),
    path("incidents/<int:pk>/edit/", views.incident_edit, name="incident_edit"),
    path("incidents/<int:pk>/acknowledge/", views.incident_acknowledge, name="incident_acknowledge"),
    path("incidents/<int:pk>/advance/", views.incident_advance, name="incident_advance"),
    path("incidents/<int:pk>/causes/", views.incident_cause, name="incident_cause"),
    path("incidents/<int:pk>/options/", views.incident_option, name="incident_option"),
    path("incidents/<int:pk>/decide/", views.incident_decide, name="incident_decide"),
    path("incidents/<int:pk>/controls/", views.incident_control, name="incident_control"),
    path("incidents/<int:pk>/sign-off/", views.incident_sign_off, name="incident_sign_off"),
    path("incidents/<int:pk>/close/", views.incident_close, name="incident_close"),
    path("incidents/<int:pk>/reopen/", views.incident_reopen, name="incident_reopen"),
    path("incidents/<int:pk>/postmortem.md", views.postmortem_markdown, name="incident_postmortem_md"),
    path("incidents/<int:pk>/postmortem.pdf", views.postmortem_pdf_view, name="incident_postmortem_pdf"),
    path("incidents/options/<int:pk>/comment/", views.option_comment, name="incident_option_comment"),
    path("incidents/controls/<int:pk>/apply-check/", views.control_apply, name="incident_control_apply"),
    path("incidents/controls/<int:pk>/complete/", views.control_complete, name="incident_control_complete"),
    path("resilience/plans/new/", views.plan_new, name="resilience_plan_new"),
    path("resilience/plans/<int:pk>/", views.plan_detail, name="resilience_plan_detail"),
    path("resilience/plans/<int:pk>/edit/", views.plan_edit, name="resilience_plan_edit"),
    path("resilience/plans/<int:pk>/scenarios/", views.plan_scenario, name="resilience_plan_scenario"),
    path("resilience/plans/<int:pk>/exercises/", views.plan_exercise, name="resilience_plan_exercise"),
    path("resilience/scenarios/<int:pk>/edit/", views.scenario_edit, name="resilience_scenario_edit"),
    path("resilience/scenarios/<int:pk>/delete/", views.scenario_delete, name="resilience_scenario_delete"),
    path("resilience/exercises/<int:pk>/edit/", views.exercise_edit, name="resilience_exercise_edit"),
    path("resilience/exercises/<int:pk>/delete/", views.exercise_delete, name="resilience_exercise_delete"),
    path("resilience/webhook/", views.webhook_settings, name="resilience_webhook"),
]
