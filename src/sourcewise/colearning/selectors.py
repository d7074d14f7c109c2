"""Reads of co-learning, always through the tenancy rule (missing and forbidden: 404)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet

from sourcewise.colearning import semantic
from sourcewise.colearning.models import (
    Attachment,
    Challenge,
    DataStudy,
    Idea,
    IdeaTest,
    Insight,
    Learning,
    Milestone,
    Observation,
    ResearchSession,
    SharedLearning,
    StudyRun,
)
from sourcewise.core.selectors import get_visible


def challenge_list(*, user: Any, organization: Any = None, engagement: Any = None) -> QuerySet[Challenge]:
    queryset = Challenge.objects.visible_to(user, organization).select_related(
        "engagement__buyer", "engagement__provider").annotate(
        idea_count=Count("ideas", distinct=True),
        observation_count=Count("observations", distinct=True),
    )
    if engagement is not None:
        queryset = queryset.filter(engagement=engagement)
    return queryset


def challenge_get(*, user: Any, organization: Any = None, pk: Any) -> Challenge:
    return get_visible(Challenge.objects.select_related("engagement__buyer", "engagement__provider"),
                       user=user, organization=organization, pk=pk)


def challenge_detail(challenge: Challenge) -> dict[str, Any]:
    """Everything under one (already visible) challenge, with the queries a page needs."""
    return {
        "sessions": challenge.sessions.select_related("author").prefetch_related(_attachments()),
        "observations": challenge.observations.select_related("session", "author").prefetch_related(
            _attachments()),
        "studies": challenge.studies.select_related("current_run").all(),
        "insights": challenge.insights.prefetch_related(
            "observations", Prefetch("study_runs", queryset=StudyRun.objects.select_related("study"))),
        "ideas": challenge.ideas.select_related("decided_by").prefetch_related(
            "insights", "milestones", "tests__author"),
        "learnings": challenge.learnings.select_related("consent_by").prefetch_related("shared_copy"),
    }


def _attachments() -> Prefetch:
    return Prefetch("attachments", queryset=Attachment.objects.select_related("author"))


def _get(model: Any, *, user: Any, organization: Any, pk: Any, related: tuple[str, ...] = ()):
    return get_visible(model.objects.select_related(*related), user=user, organization=organization, pk=pk)


def session_get(*, user: Any, organization: Any = None, pk: Any) -> ResearchSession:
    return _get(ResearchSession, user=user, organization=organization, pk=pk,
                related=("challenge__engagement",))


def observation_get(*, user: Any, organization: Any = None, pk: Any) -> Observation:
    return _get(Observation, user=user, organization=organization, pk=pk,
                related=("challenge__engagement",))


def attachment_get(*, user: Any, organization: Any = None, pk: Any) -> Attachment:
    """An attachment, seen by exactly those who see its session or observation's challenge."""
    return _get(Attachment, user=user, organization=organization, pk=pk,
                related=("challenge__engagement", "session", "observation"))


def idea_test_get(*, user: Any, organization: Any = None, pk: Any) -> IdeaTest:
    return _get(IdeaTest, user=user, organization=organization, pk=pk,
                related=("idea__challenge__engagement__buyer", "idea__challenge__engagement__provider"))


def study_get(*, user: Any, organization: Any = None, pk: Any) -> DataStudy:
    return _get(DataStudy, user=user, organization=organization, pk=pk,
                related=("challenge__engagement__buyer", "challenge__engagement__provider", "current_run"))


def insight_get(*, user: Any, organization: Any = None, pk: Any) -> Insight:
    return _get(Insight, user=user, organization=organization, pk=pk, related=("challenge__engagement",))


def idea_get(*, user: Any, organization: Any = None, pk: Any) -> Idea:
    return _get(Idea, user=user, organization=organization, pk=pk,
                related=("challenge__engagement__buyer", "challenge__engagement__provider"))


def milestone_get(*, user: Any, organization: Any = None, pk: Any) -> Milestone:
    return _get(Milestone, user=user, organization=organization, pk=pk, related=("idea__challenge",))


def learning_get(*, user: Any, organization: Any = None, pk: Any) -> Learning:
    return _get(Learning, user=user, organization=organization, pk=pk,
                related=("challenge__engagement__buyer", "challenge__engagement__provider"))


def visible_among(model: Any, ids: list[int], *, user: Any, organization: Any = None) -> list[Any]:
    """The objects of `ids` the user may see; an id they may not see is simply not found."""
    if not ids:
        return []
    found = list(model.objects.visible_to(user, organization).filter(pk__in=ids))
    if len(found) != len(set(ids)):
        from django.core.exceptions import ValidationError

        missing = sorted(set(ids) - {o.pk for o in found})
        raise ValidationError({model._meta.verbose_name_plural.replace(" ", "_"):
                               f"No such {model._meta.verbose_name}: {', '.join(map(str, missing))}."})
    return found


def library(*, user: Any, organization: Any = None, q: str = "", industry: str = "",
            process: str = "", tag: str = "", mode: str = "text") -> list[SharedLearning]:
    """Shared learnings the user may read, filtered, and searched in full text or semantically.

    Full text is PostgreSQL's (English stemming, ranked, title first) where available, and
    on SQLite every word as a case-insensitive substring.

    Semantic mode ranks every filtered learning by closeness to `q` (the library of one
    provider is small: hundreds, not millions), keeping those with any likeness.
    """
    queryset = SharedLearning.objects.visible_to(user, organization).select_related("provider")
    if industry:
        queryset = queryset.filter(industry__iexact=industry.strip())
    if process:
        queryset = queryset.filter(process__icontains=process.strip())
    if tag:
        queryset = queryset.filter(tags__icontains=tag.strip().lower())
    q = (q or "").strip()
    if not q:
        return list(queryset.order_by("-shared_at", "-pk")[:200])
    if mode == "semantic":
        query = semantic.embed(q)
        scored = []
        for item in queryset.order_by("-shared_at", "-pk")[:2000]:
            score = semantic.similarity(query, item.embedding)
            if score > 0.005:
                item.score = round(score, 3)
                scored.append(item)
        scored.sort(key=lambda i: -i.score)
        return scored[:200]
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = (SearchVector("title", weight="A", config="english")
                  + SearchVector("body", "process", "tags", weight="B", config="english"))
        query = SearchQuery(q, search_type="websearch", config="english")
        return list(queryset.annotate(document=vector, rank=SearchRank(vector, query))
                    .filter(document=query).order_by("-rank", "-shared_at", "-pk")[:200])
    # SQLite: every word must appear somewhere (case-insensitive).
    words = q.split()
    text_filter = Q()
    for word in words[:10]:
        text_filter &= Q(title__icontains=word) | Q(body__icontains=word) | Q(tags__icontains=word) | Q(
            process__icontains=word)
    return list(queryset.filter(text_filter).order_by("-shared_at", "-pk")[:200])
