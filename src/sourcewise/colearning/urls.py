from django.urls import path

from sourcewise.colearning import views

# The landing page keeps the URL name "colearning": the main navigation links to it.
urlpatterns = [
    path("co-learning/", views.landing, name="colearning"),
    path("co-learning/library/", views.library, name="colearning_library"),
    path("co-learning/engagements/<int:pk>/challenges/new/", views.challenge_new,
         name="colearning_challenge_new"),
    path("co-learning/challenges/<int:pk>/", views.challenge_detail, name="colearning_challenge"),
    path("co-learning/challenges/<int:pk>/edit/", views.challenge_edit, name="colearning_challenge_edit"),
    path("co-learning/challenges/<int:pk>/story/", views.challenge_story, name="colearning_story"),
    path("co-learning/challenges/<int:pk>/sessions/", views.session_create, name="colearning_session_create"),
    path("co-learning/challenges/<int:pk>/observations/", views.observation_create,
         name="colearning_observation_create"),
    path("co-learning/challenges/<int:pk>/studies/", views.study_create, name="colearning_study_create"),
    path("co-learning/challenges/<int:pk>/insights/", views.insight_create, name="colearning_insight_create"),
    path("co-learning/challenges/<int:pk>/ideas/", views.idea_create, name="colearning_idea_create"),
    path("co-learning/challenges/<int:pk>/learnings/", views.learning_create,
         name="colearning_learning_create"),
    path("co-learning/sessions/<int:pk>/attachments/", views.session_attach,
         name="colearning_session_attach"),
    path("co-learning/observations/<int:pk>/attachments/", views.observation_attach,
         name="colearning_observation_attach"),
    path("co-learning/attachments/<int:pk>/", views.attachment_download, name="colearning_attachment"),
    path("co-learning/attachments/<int:pk>/remove/", views.attachment_remove,
         name="colearning_attachment_remove"),
    path("co-learning/studies/<int:pk>/", views.study_detail, name="colearning_study"),
    path("co-learning/studies/<int:pk>/upload/", views.study_upload, name="colearning_study_upload"),
    path("co-learning/studies/<int:pk>/metrics/", views.study_metrics, name="colearning_study_metrics"),
    path("co-learning/ideas/<int:pk>/decide/", views.idea_decide, name="colearning_idea_decide"),
    path("co-learning/ideas/<int:pk>/tests/", views.idea_test_create, name="colearning_idea_test_create"),
    path("co-learning/tests/<int:pk>/edit/", views.idea_test_edit, name="colearning_idea_test_edit"),
    path("co-learning/milestones/<int:pk>/done/", views.milestone_complete,
         name="colearning_milestone_complete"),
    path("co-learning/learnings/<int:pk>/consent/", views.learning_consent, name="colearning_learning_consent"),
    path("co-learning/learnings/<int:pk>/share/", views.learning_share, name="colearning_learning_share"),
]
