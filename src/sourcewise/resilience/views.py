"""Pages of resilience: incidents and plans. Views parse, call one service, and render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from sourcewise.core.errors import Conflict
from sourcewise.core.htmx import add_form_errors, perform, posted_version, render_page
from sourcewise.core.models import Engagement
from sourcewise.core.permissions import can_write, membership_of, require_role
from sourcewise.core.selectors import engagement_list
from sourcewise.core.tables import Column, Table, history_tab
from sourcewise.core.tenancy import Role, role_at_least
from sourcewise.resilience import forms, selectors, services
from sourcewise.resilience.findings import feed_links, finding_customers_url, linked_findings
from sourcewise.resilience.models import FailureScenario, Incident
from sourcewise.resilience.postmortem import postmortem_pdf


def _scope(request: HttpRequest) -> dict[str, Any]:
    return {"user": request.user, "organization": request.organization}


INCIDENT_TABLE = Table(
    columns=[
        Column("title", "Incident", order_by="title"),
        Column("engagement.name", "Engagement", order_by="engagement__name"),
        Column("severity", "Severity", order_by="severity", value=lambda i: i.get_severity_display()),
        Column("status", "Status", order_by="status", value=lambda i: i.get_status_display()),
        Column("affected", "Customers affected", value=lambda i: len(i.affected_customers)),
        Column("reported_at", "Reported", order_by="reported_at"),
    ],
    default_sort="-reported_at",
    search_fields=["title", "description", "check_name", "engagement__name"],
    filters={"status": "status", "severity": "severity"},
)


@login_required
@require_GET
def incident_index(request: HttpRequest) -> HttpResponse:
    """The Incidents section: every incident and plan of the engagements you are a party to."""
    queryset = selectors.incident_list(**_scope(request))
    everything = queryset
    open_only = request.GET.get("open") == "1"
    if open_only:
        queryset = queryset.exclude(status=Incident.Status.CLOSED)
    if request.GET.get("format") == "csv":
        return INCIDENT_TABLE.csv_response(INCIDENT_TABLE.filtered(request, queryset), "incidents")
    context = INCIDENT_TABLE.apply(request, queryset)
    plans = list(selectors.plan_list(**_scope(request)).prefetch_related("exercises").order_by("service"))
    context.update({
        "statuses": Incident.Status.choices, "severities": Incident.Severity.choices, "plans": plans,
        "open_count": everything.exclude(status="closed").count(), "open_only": open_only,
        "can_write": can_write(request.user, request.organization),
    })
    return render_page(request, "resilience/incident_list.html", context, fragment="results")


def _active_engagements(request: HttpRequest):
    return engagement_list(**_scope(request)).filter(status=Engagement.Status.ACTIVE)


@login_required
def incident_new(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        return redirect("home")
    require_role(request.user, request.organization, Role.MEMBER)
    initial = {"engagement": request.GET.get("engagement")} if (request.GET.get("engagement") or "").isdigit() else {}
    scenarios = FailureScenario.objects.visible_to(request.user, request.organization).filter(
        plan__engagement__in=_active_engagements(request)).select_related("plan__engagement")
    form = forms.IncidentForm(request.POST or None, engagements=_active_engagements(request),
                              scenarios=scenarios, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.incident_open(
                actor=request.user, organization=request.organization, engagement=data["engagement"],
                title=data["title"], description=data["description"], scenario=data["scenario"],
                plan=data["scenario"].plan if data["scenario"] else None,
                affected_customers=data["affected_customers"])
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Incident reported. The other side has been told on its Incidents page.")
            return redirect(incident.get_absolute_url())
    status = 422 if request.method == "POST" else 200
    return render(request, "resilience/form.html", {"form": form, "title": "Report an incident",
                                                    "cancel": "incidents"}, status=status)


def _feeds(request: HttpRequest):
    """The monitoring feeds the user sees (a control's new check goes into one of them)."""
    from sourcewise.monitoring.selectors import feed_list

    return feed_list(**_scope(request))


def _role_facts(request: HttpRequest, engagement: Engagement) -> dict[str, Any]:
    membership = membership_of(request.user, request.organization)
    role = membership.role if membership else None
    side = engagement.side_of(request.organization)
    return {
        "side": side,
        "can_write": side is not None and role_at_least(role, Role.MEMBER),
        "is_buyer_manager": side == "buyer" and role_at_least(role, Role.MANAGER),
    }


@login_required
@require_GET
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = selectors.incident_get(**_scope(request), pk=pk)
    engagement = incident.engagement
    facts = _role_facts(request, engagement)
    next_moves = [(to, label) for (frm, to), label in services.ADVANCE.items() if frm == incident.status]
    context = {
        "incident": incident, "engagement": engagement, **facts,
        "next_moves": [(to, Incident.Status(to).label) for to, _label in next_moves],
        "close_blockers": services.close_problems(incident) if incident.is_open else [],
        # Several forms share field names on this page: each gets its own ids.
        "acknowledge_form": forms.AcknowledgeForm(initial={"version": incident.version}, auto_id="ack_%s"),
        "cause_form": forms.CauseForm(auto_id="cause_%s"),
        "option_form": forms.OptionForm(auto_id="option_%s"),
        "control_form": forms.ControlForm(engagement=engagement, feeds=_feeds(request), auto_id="control_%s"),
        "options": list(incident.options.all()),
        "controls": list(incident.controls.all()),
        "findings": [(f, finding_customers_url(f)) for f in linked_findings(incident)],
        "checks": list(incident.checks.all()),
        "detected_links": feed_links(engagement, [incident.feed_name]) if incident.feed_name else None,
    }
    context["tab"] = request.GET.get("tab", "incident")
    if context["tab"] == "history":
        # The audit records about the incident itself (its timeline tells the whole story).
        history = history_tab(request, incident, filename=f"incident-{incident.pk}")
        if isinstance(history, HttpResponseBase):  # the CSV export
            return history
        context.update(history)
    return render(request, "resilience/incident_detail.html", context)


def _act(request: HttpRequest, incident_url: str, action: Callable[[], Any], success: str) -> HttpResponse:
    """Run one service call from a button or small form; say how it went; back to the incident."""
    return perform(request, action, success=success, then=incident_url)


def _incident(request: HttpRequest, pk: int) -> Incident:
    return selectors.incident_get(**_scope(request), pk=pk)


def _form_errors(form) -> ValidationError:
    return ValidationError({field: [str(e) for e in errs] for field, errs in form.errors.items()})


def _valid(form):
    if not form.is_valid():
        raise _form_errors(form)
    return form.cleaned_data


@login_required
@require_POST
def incident_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)

    def action():
        data = _valid(forms.AcknowledgeForm(request.POST))
        services.incident_acknowledge(
            actor=request.user, organization=request.organization, incident=incident,
            expected_version=data["version"], statement=data["statement"], caused_by=data["caused_by"],
            caused_by_detail=data["caused_by_detail"])

    return _act(request, incident.get_absolute_url(), action,
                "Acknowledged. The customer message is drafted from the plan's template.")


@login_required
@require_POST
def incident_advance(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)
    to = request.POST.get("to", "")
    return _act(request, incident.get_absolute_url(), lambda: services.incident_advance(
        actor=request.user, organization=request.organization, incident=incident, to=to,
        expected_version=posted_version(request), note=request.POST.get("note", "")),
        f"Moved to {Incident.Status(to).label.lower() if to in Incident.Status.values else to}.")


@login_required
@require_POST
def incident_cause(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)

    def action():
        # The mechanism reaches the service even when blank, so its reason is the one shown.
        services.cause_add(actor=request.user, organization=request.organization, incident=incident,
                           kind=request.POST.get("kind", ""), category=request.POST.get("category", ""),
                           mechanism=request.POST.get("mechanism", ""))

    return _act(request, incident.get_absolute_url(), action, "Cause recorded.")


@login_required
@require_POST
def incident_option(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)

    def action():
        data = _valid(forms.OptionForm(request.POST))
        services.option_add(actor=request.user, organization=request.organization, incident=incident, **data)

    return _act(request, incident.get_absolute_url(), action, "Option added for the client to weigh.")


@login_required
@require_POST
def option_comment(request: HttpRequest, pk: int) -> HttpResponse:
    option = selectors.option_get(**_scope(request), pk=pk)
    return _act(request, option.incident.get_absolute_url(), lambda: services.option_comment(
        actor=request.user, organization=request.organization, option=option,
        text=request.POST.get("text", "")), "Comment added.")


@login_required
@require_POST
def incident_decide(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)

    def action():
        option_id = request.POST.get("option", "")
        option = next((o for o in incident.options.all() if str(o.pk) == option_id), None)
        if option is None:
            raise ValidationError({"option": "Choose one of the options."})
        services.incident_decide(actor=request.user, organization=request.organization, incident=incident,
                                 option=option, expected_version=posted_version(request),
                                 note=request.POST.get("note", ""))

    return _act(request, incident.get_absolute_url(), action, "Decision recorded: the solution is agreed.")


@login_required
@require_POST
def incident_control(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)

    def action():
        data = _valid(forms.ControlForm(request.POST, engagement=incident.engagement, feeds=_feeds(request)))
        check = data["check"].strip() or None
        if check:
            try:
                check = yaml.safe_load(check)
            except yaml.YAMLError as exc:
                raise ValidationError({"check": f"The check is not valid YAML: {' '.join(str(exc).split())}"}) from None
        services.control_add(actor=request.user, organization=request.organization, incident=incident,
                             description=data["description"], owner=data["owner"], due_on=data["due_on"],
                             kind=data["kind"], feed=data["feed"], check=check)

    return _act(request, incident.get_absolute_url(), action, "Preventive control added.")


@login_required
@require_POST
def control_apply(request: HttpRequest, pk: int) -> HttpResponse:
    control = selectors.control_get(**_scope(request), pk=pk)
    back = control.incident.get_absolute_url() if control.incident else "incidents"
    return _act(request, back, lambda: services.control_apply_check(
        actor=request.user, organization=request.organization, control=control),
        f"The check was added to {control.feed_name}.")


@login_required
@require_POST
def control_complete(request: HttpRequest, pk: int) -> HttpResponse:
    control = selectors.control_get(**_scope(request), pk=pk)
    if control.incident:
        back = control.incident.get_absolute_url()
    elif control.exercise:
        back = control.exercise.plan.get_absolute_url()
    else:
        back = "incidents"
    return _act(request, back, lambda: services.control_complete(
        actor=request.user, organization=request.organization, control=control), "Control marked in place.")


@login_required
@require_POST
def incident_sign_off(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)
    return _act(request, incident.get_absolute_url(), lambda: services.incident_sign_off(
        actor=request.user, organization=request.organization, incident=incident,
        expected_version=posted_version(request)), "Signed off for the buyer.")


@login_required
@require_POST
def incident_close(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)
    return _act(request, incident.get_absolute_url(), lambda: services.incident_close(
        actor=request.user, organization=request.organization, incident=incident,
        expected_version=posted_version(request), lessons=request.POST.get("lessons")),
        "Closed. The postmortem is written; the history stays.")


@login_required
@require_POST
def incident_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(request, pk)
    return _act(request, incident.get_absolute_url(), lambda: services.incident_reopen(
        actor=request.user, organization=request.organization, incident=incident,
        expected_version=posted_version(request), reason=request.POST.get("reason", "")), "Reopened.")


@login_required
def incident_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit the text; a stale edit is refused and the newer version shown beside yours."""
    incident = _incident(request, pk)
    initial = {"title": incident.title, "description": incident.description, "lessons": incident.lessons,
               "version": incident.version}
    form = forms.IncidentEditForm(request.POST or None, initial=initial)
    newer = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.incident_update(
                actor=request.user, organization=request.organization, incident=incident,
                expected_version=data["version"], title=data["title"], description=data["description"],
                lessons=data["lessons"])
        except ValidationError as exc:
            add_form_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
            incident.refresh_from_db()
            newer = incident
            # Your text stays in the form; the version moves on so that saving again is deliberate.
            form.data = form.data.copy()
            form.data["version"] = str(incident.version)
        else:
            messages.success(request, "Saved.")
            return redirect(incident.get_absolute_url())
    status = 409 if newer else (422 if request.method == "POST" else 200)
    return render(request, "resilience/form.html", {
        "form": form, "title": f"Edit {incident.title}", "cancel_url": incident.get_absolute_url(),
        "newer": newer}, status=status)


def _postmortem(request: HttpRequest, pk: int) -> Incident:
    incident = _incident(request, pk)
    if not incident.postmortem:
        from django.http import Http404

        raise Http404("The postmortem is written when the incident closes.")
    return incident


@login_required
@require_GET
def postmortem_markdown(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _postmortem(request, pk)
    response = HttpResponse(incident.postmortem, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="postmortem-{incident.pk}-{slugify(incident.title)[:50]}.md"'
    return response


@login_required
@require_GET
def postmortem_pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _postmortem(request, pk)
    response = HttpResponse(postmortem_pdf(incident.postmortem), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="postmortem-{incident.pk}-{slugify(incident.title)[:50]}.pdf"'
    return response


# Plans.


@login_required
def plan_new(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        return redirect("home")
    require_role(request.user, request.organization, Role.MEMBER)
    initial = {"engagement": request.GET["engagement"]} if request.GET.get("engagement", "").isdigit() else {}
    form = forms.PlanNewForm(request.POST or None, engagements=_active_engagements(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        data.pop("version", None)
        engagement = data.pop("engagement")
        try:
            plan = services.plan_create(actor=request.user, organization=request.organization,
                                        engagement=engagement, **data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Plan created. Next: its failure scenarios.")
            return redirect(plan.get_absolute_url())
    status = 422 if request.method == "POST" else 200
    return render(request, "resilience/form.html", {"form": form, "title": "New resilience plan",
                                                    "cancel": "incidents"}, status=status)


@login_required
@require_GET
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    plan = selectors.plan_get(**_scope(request), pk=pk)
    facts = _role_facts(request, plan.engagement)
    scenarios = list(plan.scenarios.all())
    for scenario in scenarios:
        # "How it is detected": each feed and check name links to its feed page when it matches one.
        scenario.links = feed_links(plan.engagement, scenario.detected_by_feeds, scenario.detected_by_checks)
    return render(request, "resilience/plan_detail.html", {
        "plan": plan, "engagement": plan.engagement, **facts, "scenarios": scenarios,
        "scenario_form": forms.ScenarioForm(engagement=plan.engagement, auto_id="scenario_%s"),
        "exercise_form": forms.ExerciseForm(engagement=plan.engagement, auto_id="exercise_%s"),
        "incidents": plan.incidents.order_by("-reported_at")[:20],
    })


@login_required
def plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    plan = selectors.plan_get(**_scope(request), pk=pk)
    initial = {f: getattr(plan, f) for f in services.PLAN_FIELDS} | {"version": plan.version}
    form = forms.PlanForm(request.POST or None, initial=initial)
    newer = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        version = data.pop("version")
        try:
            services.plan_update(actor=request.user, organization=request.organization, plan=plan,
                                 expected_version=version, **data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
            plan.refresh_from_db()
            newer = plan
            form.data = form.data.copy()
            form.data["version"] = str(plan.version)
        else:
            messages.success(request, "Plan saved.")
            return redirect(plan.get_absolute_url())
    status = 409 if newer else (422 if request.method == "POST" else 200)
    return render(request, "resilience/form.html", {"form": form, "title": f"Edit the plan for {plan.service}",
                                                    "cancel_url": plan.get_absolute_url(), "newer_plan": newer},
                  status=status)


def _plan_act(request: HttpRequest, pk: int, build: Callable[[Any], Any], success: str) -> HttpResponse:
    plan = selectors.plan_get(**_scope(request), pk=pk)
    return _act(request, plan.get_absolute_url(), lambda: build(plan), success)


@login_required
@require_POST
def plan_scenario(request: HttpRequest, pk: int) -> HttpResponse:
    def build(plan):
        form = forms.ScenarioForm(request.POST, engagement=plan.engagement)
        data = _valid(form)
        services.scenario_add(actor=request.user, organization=request.organization, plan=plan, **data)

    return _plan_act(request, pk, build, "Scenario added.")


@login_required
@require_POST
def plan_exercise(request: HttpRequest, pk: int) -> HttpResponse:
    def build(plan):
        data = _valid(forms.ExerciseForm(request.POST, engagement=plan.engagement))
        gaps = []
        if data["gap"]:
            gaps.append({"description": data["gap"], "owner": data["gap_owner"], "due_on": data["gap_due_on"]})
        services.exercise_record(actor=request.user, organization=request.organization, plan=plan,
                                 held_on=data["held_on"], result=data["result"], notes=data["notes"], gaps=gaps)

    return _plan_act(request, pk, build, "Exercise recorded.")


def _edit_page(request: HttpRequest, *, form, obj, title: str, save: Callable[[dict], Any],
               newer_facts: Callable[[Any], list[tuple[str, str]]], what: str) -> HttpResponse:
    """An edit form whose stale save is refused, showing the newer version beside yours (like plan_edit)."""
    back = obj.plan.get_absolute_url()
    newer = None
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            save(data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
            obj.refresh_from_db()
            newer = obj
            # Your values stay in the form; the version moves on so that saving again is deliberate.
            form.data = form.data.copy()
            form.data["version"] = str(obj.version)
        else:
            messages.success(request, f"{what.capitalize()} saved.")
            return redirect(back)
    status = 409 if newer else (422 if request.method == "POST" else 200)
    return render(request, "resilience/form.html", {
        "form": form, "title": title, "cancel_url": back,
        "newer_facts": newer_facts(newer) if newer else None, "newer_version": newer.version if newer else None,
    }, status=status)


def _scenario_facts(scenario) -> list[tuple[str, str]]:
    return [("Failure scenario", scenario.title), ("Description", scenario.description or "\u2014"),
            ("Detected on feeds", ", ".join(scenario.detected_by_feeds)),
            ("Detected by checks", ", ".join(scenario.detected_by_checks)),
            ("Response steps", "; ".join(scenario.steps())),
            ("Owners", f"{scenario.buyer_owner}, {scenario.provider_owner}")]


@login_required
def scenario_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scenario = selectors.scenario_get(**_scope(request), pk=pk)
    engagement = scenario.plan.engagement
    initial = {"title": scenario.title, "description": scenario.description,
               "detected_by_feeds": "\n".join(scenario.detected_by_feeds),
               "detected_by_checks": "\n".join(scenario.detected_by_checks),
               "response_steps": scenario.response_steps, "buyer_owner": scenario.buyer_owner_id,
               "provider_owner": scenario.provider_owner_id, "version": scenario.version}
    form = forms.ScenarioEditForm(request.POST or None, engagement=engagement, initial=initial)

    def save(data):
        version = data.pop("version")
        services.scenario_update(actor=request.user, organization=request.organization, scenario=scenario,
                                 expected_version=version, **data)

    return _edit_page(request, form=form, obj=scenario, title=f"Edit the scenario \u201c{scenario.title}\u201d",
                      save=save, newer_facts=_scenario_facts, what="scenario")


@login_required
@require_POST
def scenario_delete(request: HttpRequest, pk: int) -> HttpResponse:
    scenario = selectors.scenario_get(**_scope(request), pk=pk)
    return _act(request, scenario.plan.get_absolute_url(), lambda: services.scenario_delete(
        actor=request.user, organization=request.organization, scenario=scenario,
        expected_version=posted_version(request)), f"Scenario \u201c{scenario.title}\u201d deleted.")


def _exercise_facts(exercise) -> list[tuple[str, str]]:
    return [("Held on", str(exercise.held_on)), ("Result", exercise.get_result_display()),
            ("Notes", exercise.notes or "\u2014")]


@login_required
def exercise_edit(request: HttpRequest, pk: int) -> HttpResponse:
    exercise = selectors.exercise_get(**_scope(request), pk=pk)
    initial = {"held_on": exercise.held_on, "result": exercise.result, "notes": exercise.notes,
               "version": exercise.version}
    form = forms.ExerciseEditForm(request.POST or None, initial=initial)

    def save(data):
        version = data.pop("version")
        services.exercise_update(actor=request.user, organization=request.organization, exercise=exercise,
                                 expected_version=version, **data)

    return _edit_page(request, form=form, obj=exercise, title=f"Edit the exercise of {exercise.held_on}",
                      save=save, newer_facts=_exercise_facts, what="exercise")


@login_required
@require_POST
def exercise_delete(request: HttpRequest, pk: int) -> HttpResponse:
    exercise = selectors.exercise_get(**_scope(request), pk=pk)
    return _act(request, exercise.plan.get_absolute_url(), lambda: services.exercise_delete(
        actor=request.user, organization=request.organization, exercise=exercise,
        expected_version=posted_version(request)), f"Exercise of {exercise.held_on} deleted.")


@login_required
def webhook_settings(request: HttpRequest) -> HttpResponse:
    """The organisation's reminder webhook (managers)."""
    if request.organization is None:
        return redirect("home")
    require_role(request.user, request.organization, Role.MANAGER)
    from sourcewise.resilience.models import Webhook

    webhook = Webhook.objects.visible_to(request.user, request.organization).filter(
        organization=request.organization).first()
    if request.method == "POST":
        try:
            services.webhook_configure(actor=request.user, organization=request.organization,
                                       url=request.POST.get("url", ""), secret=request.POST.get("secret", ""),
                                       active=request.POST.get("active") == "on")
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    messages.error(request, f"{field.capitalize()}: {error}")
        else:
            messages.success(request, "Reminder webhook saved.")
        return redirect("resilience_webhook")
    return render(request, "resilience/webhook.html", {"webhook": webhook})


