"""Challenges, research, data studies, insights, ideas and the learnings library (issue 7)."""

from django.apps import AppConfig


class ColearningConfig(AppConfig):
    name = "sourcewise.colearning"
    label = "colearning"
    verbose_name = "Co-learning"
