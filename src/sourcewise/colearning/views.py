"""Pages of co-learning: thin views that parse, call a service and render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from sourcewise.colearning import forms, selectors, services, story
from sourcewise.colearning.charts import study_charts
from sourcewise.colearning.models import Insight, Observation, StudyRun
from sourcewise.core import storage
from sourcewise.core.errors import Conflict
from sourcewise.core.htmx import add_form_errors, perform, render_page
from sourcewise.core.models import Engagement
from sourcewise.core.permissions import require_engagement_role
from sourcewise.core.selectors import engagement_get, engagement_list
from sourcewise.core.tenancy import Role


def _scope(request: HttpRequest) -> dict[str, Any]:
    return {"user": request.user, "organization": request.organization}


@login_required
@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """Every challenge the organisation shares, by engagement, and where to start one."""
    challenges = selectors.challenge_list(**_scope(request)).order_by("engagement__name", "-created_at")
    engagements = engagement_list(**_scope(request)).exclude(status=Engagement.Status.ENDED)
    return render_page(request, "colearning/landing.html", {
        "challenges": challenges, "engagements": engagements,
    })


@login_required
def challenge_new(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = engagement_get(**_scope(request), pk=pk)
    # Say so before the form is filled in, not after.
    require_engagement_role(request.user, engagement, Role.MEMBER, organization=request.organization)
    form = forms.ChallengeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        try:
            challenge = services.challenge_create(actor=request.user, engagement=engagement,
                                                  organization=request.organization, **data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Challenge recorded. Next: plan shadowing and interviews.")
            return redirect(challenge)
    return render_page(request, "colearning/challenge_form.html",
                       {"form": form, "engagement": engagement, "title": "Name a shared challenge"},
                       status=422 if request.method == "POST" else 200)


@login_required
def challenge_edit(request: HttpRequest, pk: int) -> HttpResponse:
    challenge = selectors.challenge_get(**_scope(request), pk=pk)
    require_engagement_role(request.user, challenge.engagement, Role.MEMBER, organization=request.organization)
    initial = {f: getattr(challenge, f) for f in services.CHALLENGE_FIELDS} | {"version": challenge.version}
    form = forms.ChallengeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            services.challenge_update(actor=request.user, challenge=challenge, expected_version=version,
                                      organization=request.organization, **data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect(challenge)
    return render_page(request, "colearning/challenge_form.html",
                       {"form": form, "engagement": challenge.engagement, "challenge": challenge,
                        "title": f"Edit: {challenge.problem}"},
                       status=422 if request.method == "POST" else 200)


def _challenge_forms(challenge, detail: dict[str, Any], bound: dict[str, Any] | None = None) -> dict[str, Any]:
    runs = StudyRun.objects.filter(study__challenge=challenge, status=StudyRun.Status.SUCCEEDED).select_related("study")
    made = {
        "session_form": forms.SessionForm(),
        "observation_form": forms.ObservationForm(sessions=detail["sessions"]),
        "study_form": forms.StudyForm(),
        "insight_form": forms.InsightForm(observations=detail["observations"], runs=runs),
        "idea_form": forms.IdeaForm(insights=detail["insights"]),
        "learning_form": forms.LearningForm(),
        "decision_form": forms.DecisionForm(),
        "test_form": forms.IdeaTestForm(),
    }
    made.update(bound or {})
    return made


@login_required
@require_GET
def challenge_detail(request: HttpRequest, pk: int) -> HttpResponse:
    challenge = selectors.challenge_get(**_scope(request), pk=pk)
    return _render_challenge(request, challenge)


def _render_challenge(request: HttpRequest, challenge, bound: dict[str, Any] | None = None,
                      status: int = 200) -> HttpResponse:
    detail = selectors.challenge_detail(challenge)
    side = challenge.engagement.side_of(request.organization)
    context = {"challenge": challenge, "engagement": challenge.engagement, "side": side,
               "tab": request.GET.get("tab", "research"), **detail,
               "trigger_review_days": services.trigger_review_days(),
               **_challenge_forms(challenge, detail, bound)}
    return render_page(request, "colearning/challenge_detail.html", context, status=status)


def _submit(request: HttpRequest, challenge, form_key: str, form, call, success: str, anchor: str):
    """Validate `form`, call the service, and come back to the challenge's section."""
    if form.is_valid():
        try:
            call(form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, success)
            return redirect(f"{challenge.get_absolute_url()}#{anchor}")
    return _render_challenge(request, challenge, {form_key: form}, status=422)


@login_required
@require_POST
def session_create(request: HttpRequest, pk: int) -> HttpResponse:
    challenge = selectors.challenge_get(**_scope(request), pk=pk)
    form = forms.SessionForm(request.POST, request.FILES)
    return _submit(request, challenge, "session_form", form, lambda d: services.research_session_create(
        actor=request.user, challenge=challenge, organization=request.organization, **d),
        "Session recorded.", "research")


def _attach(request: HttpRequest, owner, anchor: str) -> HttpResponse:
    # Say "not allowed" before looking at the upload (a viewer's form is never read).
    require_engagement_role(request.user, owner.challenge.engagement, Role.MEMBER,
                            organization=request.organization)
    form = forms.AttachmentForm(request.POST, request.FILES)
    then = f"{owner.challenge.get_absolute_url()}#{anchor}"
    if not form.is_valid():
        messages.error(request, "The file was not attached: " + " ".join(
            " ".join(errors) for errors in form.errors.values()))
        return redirect(then)
    return perform(request, lambda: services.attachment_add(
        actor=request.user, owner=owner, upload=form.cleaned_data["file"], organization=request.organization),
        success=f"Attached {form.cleaned_data['file'].name}.", then=then)


@login_required
@require_POST
def session_attach(request: HttpRequest, pk: int) -> HttpResponse:
    session = selectors.session_get(**_scope(request), pk=pk)
    return _attach(request, session, f"session-{session.pk}")


@login_required
@require_POST
def observation_attach(request: HttpRequest, pk: int) -> HttpResponse:
    observation = selectors.observation_get(**_scope(request), pk=pk)
    return _attach(request, observation, f"observation-{observation.pk}")


@login_required
@require_POST
def attachment_remove(request: HttpRequest, pk: int) -> HttpResponse:
    attachment = selectors.attachment_get(**_scope(request), pk=pk)
    owner = attachment.owner
    anchor = f"session-{owner.pk}" if attachment.session_id else f"observation-{owner.pk}"
    return perform(request, lambda: services.attachment_remove(
        actor=request.user, attachment=attachment, organization=request.organization),
        success=f"Removed {attachment.name}.", then=f"{attachment.challenge.get_absolute_url()}#{anchor}")


@login_required
@require_GET
def attachment_download(request: HttpRequest, pk: int) -> HttpResponse:
    attachment = selectors.attachment_get(**_scope(request), pk=pk)
    try:
        handle = open(storage.path_of(attachment.file.name), "rb")  # noqa: SIM115 (FileResponse closes it)
    except FileNotFoundError:
        raise Http404("The file is no longer in storage.") from None
    return FileResponse(handle, as_attachment=True, filename=attachment.name)


@login_required
@require_POST
def observation_create(request: HttpRequest, pk: int) -> HttpResponse:
    challenge = selectors.challenge_get(**_scope(request), pk=pk)
    form = forms.ObservationForm(request.POST, request.FILES, sessions=challenge.sessions.all())

    def call(d):
        session = challenge.sessions.filter(pk=d.pop("session")).first() if d.get("session") else None
        d.pop("session", None)
        return services.observation_create(actor=request.user, challenge=challenge, session=session,
                                           organization=request.organization, **d)
    return _submit(request, challenge, "observation_form", form, call, "Observation recorded.", "observations")


@login_required
@require_POST
def study_create(request: HttpRequest, pk: int) -> HttpResponse:
    challenge = selectors.challenge_get(**_scope(request), pk=pk)
    form = forms.StudyForm(request.POST)

    def call(d):
        study = services.study_create(actor=request.user, challenge=challenge,
                                      organization=request.organization, **d)
        request.new_study = study
    if form.is_valid():
        try:
            call(form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Study created. Upload its call records.")
            return redirect(request.new_study)
    return _render_challenge(request, challenge, {"study_form": form}, status=422)


@login_required
@require_GET
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = selectors.study_get(**_scope(request), pk=pk)
    return _render_study(request, study, forms.UploadForm())


def _metrics_form(study) -> forms.MetricsForm:
    lines = "\n".join(f"{m['name']} = {m['formula']}" for m in study.metrics)
    return forms.MetricsForm(initial={"metrics": lines, "version": study.version})


def _render_study(request, study, form, status: int = 200, metrics_form=None) -> HttpResponse:
    run = study.current_run
    segment = request.GET.get("segment") or ""
    return render_page(request, "colearning/study_detail.html", {
        "study": study, "challenge": study.challenge, "engagement": study.challenge.engagement,
        "form": form, "runs": study.runs.select_related("uploaded_by")[:20], "run": run,
        "pending": list(study.runs.filter(status=StudyRun.Status.PENDING).values_list("number", flat=True)),
        "metrics_form": metrics_form or _metrics_form(study),
        "charts": study_charts(run, segment=segment or None) if run else [],
        "segments": sorted({r["segment"] for r in run.results.get("rows", []) if r["segment"]}) if run else [],
        "segment": segment, "summary": story.kpi_summary(run),
    }, fragment="results", status=status)


@login_required
@require_POST
def study_upload(request: HttpRequest, pk: int) -> HttpResponse:
    study = selectors.study_get(**_scope(request), pk=pk)
    form = forms.UploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            run = services.study_upload(actor=request.user, study=study, upload=form.cleaned_data["file"],
                                        organization=request.organization)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            if run.status == StudyRun.Status.SUCCEEDED:
                messages.success(request, f"Computed the KPIs over {run.row_count:,} records.")
            elif run.status == StudyRun.Status.PENDING:
                messages.success(request, "Uploaded. The KPIs are being computed; the list of uploads "
                                          "shows when they are ready.")
            else:
                messages.error(request, "The data was not used: " + " ".join(run.errors)
                               + " The study keeps its previous results.")
            return redirect(study)
    return _render_study(request, study, form, status=422)


@login_required
@require_POST
def study_metrics(request: HttpRequest, pk: int) -> HttpResponse:
    study = selectors.study_get(**_scope(request), pk=pk)
    form = forms.MetricsForm(request.POST)
    if form.is_valid():
        try:
            services.study_set_metrics(actor=request.user, study=study, metrics=form.cleaned_data["metrics"],
                                       expected_version=form.cleaned_data.get("version"),
                                       organization=request.organization)
        except ValidationError as exc:
            add_form_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Metrics saved and computed over the current data.")
            return redirect(study)
    return _render_study(request, study, forms.UploadForm(), status=422, metrics_form=form)


@login_required
@require_POST
def insight_create(request: HttpRequest, pk: int) -> HttpResponse:
    challenge = selectors.challenge_get(**_scope(request), pk=pk)
    runs = StudyRun.objects.filter(study__challenge=challenge, status=StudyRun.Status.SUCCEEDED)
    form = forms.InsightForm(request.POST, observations=challenge.observations.all(), runs=runs)

    def call(d):
        return services.insight_create(
            actor=request.user, challenge=challenge, statement=d["statement"],
            observations=list(Observation.objects.filter(challenge=challenge, pk__in=d["observations"])),
            study_runs=list(runs.filter(pk__in=d["study_runs"]).select_related("study")),
            evidence_note=d["evidence_note"], organization=request.organization)
    return _submit(request, challenge, "insight_form", form, call, "Insight recorded with its evidence.", "insights")


@login_required
@require_POST
def idea_create(request: HttpRequest, pk: int) -> HttpResponse:
    challenge = selectors.challenge_get(**_scope(request), pk=pk)
    form = forms.IdeaForm(request.POST, insights=challenge.insights.all())

    def call(d):
        insights = list(Insight.objects.filter(challenge=challenge, pk__in=d.pop("insights")))
        return services.idea_create(actor=request.user, challenge=challenge, insights=insights,
                                    organization=request.organization, **d)
    return _submit(request, challenge, "idea_form", form, call,
                   "Idea proposed: the client decides what becomes of it.", "ideas")


@login_required
@require_POST
def idea_decide(request: HttpRequest, pk: int) -> HttpResponse:
    idea = selectors.idea_get(**_scope(request), pk=pk)
    form = forms.DecisionForm(request.POST)
    labels = {"pursued": "Pursued: it is now a project.", "declined": "Declined, with the reason.",
              "on_hold": "On hold: a reminder follows on the revisit date."}
    if not request.POST.get("revisit_on"):
        labels["on_hold"] = (f"On hold until the event happens: you will be asked every "
                             f"{services.trigger_review_days()} days whether it has.")

    def call(d):
        return services.idea_decide(actor=request.user, idea=idea, decision=d["decision"],
                                    expected_version=d.get("version"), reason=d["reason"],
                                    revisit_on=d["revisit_on"], revisit_trigger=d["revisit_trigger"],
                                    project_owner=d["project_owner"], milestones=d["milestones"],
                                    organization=request.organization)
    if form.is_valid():
        try:
            call(form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except Conflict as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, labels[form.cleaned_data["decision"]])
    else:
        messages.error(request, "The decision was not recorded: " + "; ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect(f"{idea.challenge.get_absolute_url()}#idea-{idea.pk}")


@login_required
@require_POST
def milestone_complete(request: HttpRequest, pk: int) -> HttpResponse:
    milestone = selectors.milestone_get(**_scope(request), pk=pk)
    return perform(request, lambda: services.milestone_complete(
        actor=request.user, milestone=milestone, organization=request.organization),
        success=f"Milestone done: {milestone.title}.",
        then=f"{milestone.idea.challenge.get_absolute_url()}#idea-{milestone.idea_id}")


@login_required
@require_POST
def idea_test_create(request: HttpRequest, pk: int) -> HttpResponse:
    idea = selectors.idea_get(**_scope(request), pk=pk)
    form = forms.IdeaTestForm(request.POST)
    if form.is_valid():
        try:
            services.idea_test_create(actor=request.user, idea=idea, organization=request.organization,
                                      **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Test recorded.")
    else:
        messages.error(request, "The test was not recorded: " + "; ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect(f"{idea.challenge.get_absolute_url()}#idea-{idea.pk}")


@login_required
def idea_test_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a test of an idea, e.g. to record its result; a stale edit is refused, clearly."""
    test = selectors.idea_test_get(**_scope(request), pk=pk)
    challenge = test.idea.challenge
    require_engagement_role(request.user, challenge.engagement, Role.MEMBER, organization=request.organization)
    initial = {f: getattr(test, f) for f in services.IDEA_TEST_FIELDS} | {"version": test.version}
    form = forms.IdeaTestEditForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = dict(form.cleaned_data)
            version = data.pop("version")
            try:
                services.idea_test_update(actor=request.user, test=test, expected_version=version,
                                          organization=request.organization, **data)
            except ValidationError as exc:
                add_form_errors(form, exc)
            except Conflict as exc:
                form.add_error(None, str(exc))
                status = 409
            else:
                messages.success(request, "Test saved.")
                return redirect(f"{challenge.get_absolute_url()}#idea-{test.idea_id}")
    return render_page(request, "colearning/idea_test_form.html",
                       {"form": form, "test": test, "idea": test.idea, "challenge": challenge,
                        "engagement": challenge.engagement}, status=status)


@login_required
@require_POST
def learning_create(request: HttpRequest, pk: int) -> HttpResponse:
    challenge = selectors.challenge_get(**_scope(request), pk=pk)
    form = forms.LearningForm(request.POST)
    return _submit(request, challenge, "learning_form", form, lambda d: services.learning_create(
        actor=request.user, challenge=challenge, organization=request.organization,
        **{**d, "industry": d["industry"] or None}), "Learning recorded.", "learnings")


@login_required
@require_POST
def learning_consent(request: HttpRequest, pk: int) -> HttpResponse:
    learning = selectors.learning_get(**_scope(request), pk=pk)
    return perform(request, lambda: services.learning_consent(
        actor=request.user, learning=learning, organization=request.organization),
        success="Consent recorded: the provider may share it without naming you.",
        then=f"{learning.challenge.get_absolute_url()}#learnings")


@login_required
@require_POST
def learning_share(request: HttpRequest, pk: int) -> HttpResponse:
    learning = selectors.learning_get(**_scope(request), pk=pk)
    return perform(request, lambda: services.learning_share(
        actor=request.user, learning=learning, organization=request.organization),
        success="Shared to the provider's library, without the client's identity.",
        then=f"{learning.challenge.get_absolute_url()}#learnings")


@login_required
@require_GET
def library(request: HttpRequest) -> HttpResponse:
    form = forms.LibrarySearchForm(request.GET or None)
    params = form.cleaned_data if form.is_valid() else {}
    results = selectors.library(**_scope(request), q=params.get("q", ""), industry=params.get("industry", ""),
                                process=params.get("process", ""), tag=params.get("tag", ""),
                                mode=params.get("mode") or "text")
    return render_page(request, "colearning/library.html",
                       {"form": form, "results": results, "searched": bool(params.get("q"))},
                       fragment="results")


@login_required
@require_GET
def challenge_story(request: HttpRequest, pk: int) -> HttpResponse:
    """The challenge's path to outcomes: a print view, or `?format=md` for a Markdown report."""
    challenge = selectors.challenge_get(**_scope(request), pk=pk)
    built = story.build(challenge)
    if request.GET.get("format") == "md":
        response = HttpResponse(story.markdown(built), content_type="text/markdown; charset=utf-8")
        name = slugify(challenge.problem)[:60] or "story"
        response["Content-Disposition"] = f'attachment; filename="{name}.md"'
        return response
    return render_page(request, "colearning/story.html", built)
