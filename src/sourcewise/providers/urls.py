from django.urls import path

from sourcewise.providers import views

# The landing page keeps the URL name "providers": the main navigation links to it.
urlpatterns = [
    path("providers/", views.register, name="providers"),
    path("providers/new/", views.provider_new, name="provider_new"),
    path("providers/import/", views.provider_import, name="provider_import"),
    path("providers/<int:pk>/", views.provider_detail, name="provider_detail"),
    path("providers/<int:pk>/edit/", views.provider_edit, name="provider_edit"),
    path("providers/<int:pk>/tier/", views.provider_tier, name="provider_tier"),
    path("providers/<int:pk>/services/new/", views.service_new, name="provider_service_new"),
    path("providers/<int:pk>/assess/", views.assessment_new, name="assessment_new"),
    path("providers/services/<int:pk>/contracts/new/", views.contract_new, name="provider_contract_new"),
    path("providers/services/<int:pk>/edit/", views.service_edit, name="provider_service_edit"),
    path("providers/contracts/<int:pk>/edit/", views.contract_edit, name="provider_contract_edit"),
    path("providers/services/<int:pk>/subcontractors/new/", views.subcontractor_new,
         name="provider_subcontractor_new"),
    path("providers/assessments/", views.assessment_list, name="assessment_list"),
    path("providers/assessments/<int:pk>/", views.assessment_detail, name="assessment_detail"),
    path("providers/assessments/<int:pk>/answer/", views.assessment_answer, name="assessment_answer"),
    path("providers/assessments/<int:pk>/evidence/<slug:key>/", views.assessment_evidence,
         name="assessment_evidence"),
    path("providers/assessments/<int:pk>/reopen/", views.assessment_reopen, name="assessment_reopen"),
    path("providers/assessments/<int:pk>/review/", views.assessment_review, name="assessment_review"),
    path("providers/assessments/<int:pk>/conclude/", views.assessment_conclude, name="assessment_conclude"),
    path("providers/answer/<str:token>/", views.assessment_answer_by_link, name="assessment_answer_by_link"),
    path("providers/selections/", views.selection_index, name="provider_selections"),
    path("providers/selections/<int:pk>/", views.selection_detail, name="provider_selection"),
    path("providers/selections/<int:pk>/choose/", views.selection_choose, name="provider_selection_choose"),
    path("providers/templates/", views.template_index, name="questionnaire_templates"),
    path("providers/templates/<int:pk>/", views.template_detail, name="questionnaire_template"),
    path("providers/engagements/<int:pk>/relationship/", views.relationship, name="relationship"),
    path("providers/follow-ups/<int:pk>/done/", views.follow_up_done, name="follow_up_done"),
    path("providers/engagements/<int:pk>/changes/new/", views.change_notice_new, name="change_notice_new"),
    path("providers/changes/<int:pk>/", views.change_notice_detail, name="change_notice_detail"),
]
