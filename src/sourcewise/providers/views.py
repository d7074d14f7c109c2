"""Pages of the providers app: thin views that parse, call a service or selector, and render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sourcewise.accounts.models import Organization
from sourcewise.core import storage
from sourcewise.core.errors import Conflict
from sourcewise.core.htmx import add_form_errors, perform, posted_version, render_page
from sourcewise.core.permissions import can_write, require_engagement_role, require_role
from sourcewise.core.selectors import engagement_get, engagement_list
from sourcewise.core.tables import HISTORY_TABLE, Column, Table, history_tab
from sourcewise.core.tenancy import Role
from sourcewise.providers import csv_io, scoring, selectors, services
from sourcewise.providers.forms import (
    AssessmentSendForm,
    ChangeNoticeForm,
    ChooseForm,
    ConcludeForm,
    ContactForm,
    ContractForm,
    ImportForm,
    InteractionForm,
    ProviderCreateForm,
    ProviderForm,
    QuestionForm,
    RespondForm,
    ReviewForm,
    ScorecardPeriodForm,
    SectionForm,
    SelectionForm,
    ServiceForm,
    SubcontractorForm,
    TemplateForm,
    TierForm,
)
from sourcewise.providers.models import Assessment, ChangeNotice, Interaction, Question

FORM_PAGE = "providers/form.html"


def _scope(request: HttpRequest) -> dict[str, Any]:
    return {"user": request.user, "organization": request.organization}


def _form_page(request: HttpRequest, form, *, title: str, back: str, lead: str = "",
               multipart: bool = False) -> HttpResponse:
    status = 422 if request.method == "POST" else 200
    return render(request, FORM_PAGE, {"form": form, "title": title, "back": back, "lead": lead,
                                       "multipart": multipart}, status=status)


def _organization_by_slug(form, slug: str) -> Organization | None:
    if not slug:
        return None
    # Organisations are named by their public short name, as when proposing an engagement.
    org = Organization.objects.filter(slug=slug.strip().lower()).first()
    if org is None:
        form.add_error("organization_slug", f"No organisation has the short name '{slug}'.")
    return org


# --- register ------------------------------------------------------------------------------


@login_required
@require_GET
def register(request: HttpRequest) -> HttpResponse:
    """The landing page: the register of the organisation acted for, and what waits for it."""
    if request.organization is None:
        return redirect("home")
    providers = selectors.provider_list(**_scope(request))
    fmt = request.GET.get("format")
    if fmt == "csv":
        table = csv_io.REGISTER_TABLE
        return table.csv_response(table.filtered(request, providers), "provider-register")
    if fmt == "dora":
        return csv_io.dora_csv_response(
            selectors.register_for_export(**_scope(request)).filter(
                pk__in=csv_io.REGISTER_TABLE.filtered(request, providers).values("pk")),
            "register-of-information")
    context = csv_io.REGISTER_TABLE.apply(request, providers)
    to_answer = selectors.assessment_list(**_scope(request)).filter(
        provider__organization=request.organization).exclude(provider__buyer=request.organization)
    context.update({
        "statuses": providers.model.Status.choices,
        "tiers": providers.model._meta.get_field("tier").choices,
        "to_answer": to_answer.order_by("due_date")[:20],
        "selections": selectors.selection_list(**_scope(request))[:10],
        "engagements": engagement_list(**_scope(request)).exclude(status="ended").order_by("name"),
        "notices": selectors.change_notice_list(**_scope(request)).filter(
            status__in=list(ChangeNotice.OPEN)).order_by("review_by")[:10],
    })
    return render_page(request, "providers/register.html", context, fragment="results")


@login_required
def provider_new(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        return redirect("home")
    require_role(request.user, request.organization, Role.MEMBER)
    form = ProviderCreateForm(request.POST or None, register=selectors.provider_list(**_scope(request)))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        linked = _organization_by_slug(form, data["organization_slug"])
        if not form.errors:
            try:
                provider = services.provider_create(
                    actor=request.user, buyer=request.organization, tier=data["tier"],
                    tier_reason=data["tier_reason"], organization=linked, contacts=form.contacts(),
                    **{k: data[k] for k in services.PROVIDER_FIELDS if k in data and k != "organization"},
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                messages.success(request, f"{provider} is in your register.")
                return redirect(provider)
    return _form_page(request, form, title="Add a provider", back="providers")


@login_required
def provider_import(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        return redirect("home")
    require_role(request.user, request.organization, Role.MEMBER)
    form = ImportForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > csv_io.MAX_IMPORT_BYTES:
            problems = [f"The file is larger than {csv_io.MAX_IMPORT_BYTES // (1024 * 1024)} MB."]
        else:
            kind = form.cleaned_data["kind"] or "providers"
            importer = csv_io.subcontractor_import if kind == "subcontractors" else csv_io.register_import
            try:
                created = importer(actor=request.user, buyer=request.organization, content=upload.read())
            except csv_io.ImportRefused as exc:
                problems = exc.problems
            else:
                messages.success(request, f"Imported {len(created)} {kind}.")
                return redirect("providers")
    status = 422 if request.method == "POST" else 200
    return render(request, "providers/import.html", {
        "form": form, "problems": problems, "columns": csv_io.IMPORT_COLUMNS,
        "required": csv_io.REQUIRED_COLUMNS, "sub_columns": csv_io.SUBCONTRACTOR_COLUMNS,
        "sub_required": csv_io.SUBCONTRACTOR_REQUIRED}, status=status)


PROVIDER_TABS = [("overview", "Overview"), ("scorecard", "Scorecard"), ("history", "History")]


@login_required
@require_GET
def provider_detail(request: HttpRequest, pk: int) -> HttpResponse:
    provider = selectors.provider_get(**_scope(request), pk=pk)
    tab = request.GET.get("tab", "overview")
    context: dict[str, Any] = {"provider": provider, "tab": tab, "provider_tabs": PROVIDER_TABS}
    if tab == "history":
        history = history_tab(request, provider, filename=provider.legal_name)
        if isinstance(history, HttpResponseBase):
            return history
        context.update(history)
    elif tab == "scorecard":
        try:
            days = selectors.scorecard_period(request.GET.get("days"))
        except ValueError as exc:
            context.update({"period_error": str(exc), "period_form": ScorecardPeriodForm()})
            return render_page(request, "providers/provider_detail.html", context, fragment="tab", status=400)
        context["period_form"] = ScorecardPeriodForm(initial={"days": days})
        context["card"] = selectors.provider_scorecard(provider, **_scope(request), days=days)
    else:
        services_ = selectors.provider_services(provider)
        context.update({
            "contacts": selectors.provider_contacts(provider),
            "services": [(s, selectors.subcontractor_chain(s)) for s in services_],
            "tier_changes": provider.tier_changes.select_related("changed_by"),
            "assessments": provider.assessments.select_related("template", "selection"),
            "tier_form": TierForm(initial={"tier": provider.tier}),
        })
    return render_page(request, "providers/provider_detail.html", context, fragment="tab")


@login_required
def provider_edit(request: HttpRequest, pk: int) -> HttpResponse:
    provider = selectors.provider_get(**_scope(request), pk=pk)
    require_role(request.user, provider.buyer, Role.MEMBER)
    initial = {f: getattr(provider, f) for f in services.PROVIDER_FIELDS if f != "organization"}
    initial |= {"version": provider.version,
                "organization_slug": provider.organization.slug if provider.organization_id else ""}
    form = ProviderForm(request.POST or None, initial=initial,
                        register=selectors.provider_list(**_scope(request)).exclude(pk=provider.pk))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        linked = _organization_by_slug(form, data["organization_slug"])
        if not form.errors:
            try:
                services.provider_update(
                    actor=request.user, provider=provider, expected_version=data.get("version"),
                    organization=linked,
                    **{k: data[k] for k in services.PROVIDER_FIELDS if k in data and k != "organization"},
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            except Conflict as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Saved.")
                return redirect(provider)
    return _form_page(request, form, title=f"Edit {provider}", back=provider.get_absolute_url())


@login_required
@require_POST
def provider_tier(request: HttpRequest, pk: int) -> HttpResponse:
    provider = selectors.provider_get(**_scope(request), pk=pk)
    form = TierForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a tier and give the reason for the change.")
        return redirect(provider)
    return perform(request, lambda: services.provider_set_tier(
        actor=request.user, provider=provider, **form.cleaned_data),
        success="Tier changed; the reason is in the tier history.", then=provider.get_absolute_url())


@login_required
def service_new(request: HttpRequest, pk: int) -> HttpResponse:
    provider = selectors.provider_get(**_scope(request), pk=pk)
    require_role(request.user, provider.buyer, Role.MEMBER)
    form = ServiceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            data = form.cleaned_data
            data.pop("version", None)
            services.service_create(actor=request.user, provider=provider, **data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Service added.")
            return redirect(provider)
    return _form_page(request, form, title=f"Add a service run by {provider}", back=provider.get_absolute_url())


@login_required
def contract_new(request: HttpRequest, pk: int) -> HttpResponse:
    service = selectors.get_service(**_scope(request), pk=pk)
    require_role(request.user, service.provider.buyer, Role.MEMBER)
    form = ContractForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            data = form.cleaned_data
            data.pop("version", None)
            services.contract_create(actor=request.user, service=service, **data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Contract recorded.")
            return redirect(service.provider)
    return _form_page(request, form, title=f"Record the contract for {service.name}",
                      back=service.provider.get_absolute_url())


def _edit_page(request: HttpRequest, obj: Any, form_class, fields: tuple[str, ...], update, *, title: str,
               back: str) -> HttpResponse:
    form = form_class(request.POST or None,
                      initial={f: getattr(obj, f) for f in fields} | {"version": obj.version})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        version = data.pop("version", None)
        try:
            update(expected_version=version, **{f: data[f] for f in fields})
        except ValidationError as exc:
            add_form_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect(back)
    return _form_page(request, form, title=title, back=back)


@login_required
def service_edit(request: HttpRequest, pk: int) -> HttpResponse:
    service = selectors.get_service(**_scope(request), pk=pk)
    require_role(request.user, service.provider.buyer, Role.MEMBER)
    return _edit_page(request, service, ServiceForm, services.SERVICE_FIELDS,
                      lambda **kw: services.service_update(actor=request.user, service=service, **kw),
                      title=f"Edit {service.name}", back=service.provider.get_absolute_url())


@login_required
def contract_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.get_contract(**_scope(request), pk=pk)
    require_role(request.user, contract.service.provider.buyer, Role.MEMBER)
    return _edit_page(request, contract, ContractForm, services.CONTRACT_FIELDS,
                      lambda **kw: services.contract_update(actor=request.user, contract=contract, **kw),
                      title=f"Edit contract {contract.reference}", back=contract.service.provider.get_absolute_url())


@login_required
def subcontractor_new(request: HttpRequest, pk: int) -> HttpResponse:
    service = selectors.get_service(**_scope(request), pk=pk)
    require_role(request.user, service.provider.buyer, Role.MEMBER)
    form = SubcontractorForm(request.POST or None, chain=service.subcontractors.all())
    if request.method == "POST" and form.is_valid():
        try:
            services.subcontractor_create(actor=request.user, service=service, **form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Subcontractor added to the chain.")
            return redirect(service.provider)
    return _form_page(request, form, title=f"Add a subcontractor to {service.name}",
                      back=service.provider.get_absolute_url(),
                      lead="Fourth parties and beyond: name whose subcontractor it is.")


@login_required
def contact_new(request: HttpRequest, pk: int) -> HttpResponse:
    provider = selectors.provider_get(**_scope(request), pk=pk)
    require_role(request.user, provider.buyer, Role.MEMBER)
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        data.pop("version", None)
        try:
            services.contact_add(actor=request.user, provider=provider, **data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Contact added.")
            return redirect(provider)
    return _form_page(request, form, title=f"Add a contact at {provider}", back=provider.get_absolute_url(),
                      lead="The account manager, the escalation contact, the DPO, security: "
                           "the primary contact stands for the provider in exports.")


@login_required
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contact = selectors.get_contact(**_scope(request), pk=pk)
    require_role(request.user, contact.provider.buyer, Role.MEMBER)
    return _edit_page(request, contact, ContactForm, services.CONTACT_FIELDS,
                      lambda **kw: services.contact_update(actor=request.user, contact=contact, **kw),
                      title=f"Edit {contact.name}", back=contact.provider.get_absolute_url())


@login_required
@require_POST
def contact_remove(request: HttpRequest, pk: int) -> HttpResponse:
    contact = selectors.get_contact(**_scope(request), pk=pk)
    return perform(request, lambda: services.contact_remove(
        actor=request.user, contact=contact, expected_version=posted_version(request)),
        success=f"{contact.name} removed.", then=contact.provider.get_absolute_url())


@login_required
def subcontractor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    sub = selectors.get_subcontractor(**_scope(request), pk=pk)
    require_role(request.user, sub.service.provider.buyer, Role.MEMBER)
    below = {sub.pk} | {d.pk for d in services._descendants(sub)}
    chain = sub.service.subcontractors.exclude(pk__in=below)
    fields = (*services.SUBCONTRACTOR_FIELDS, "parent")
    form = SubcontractorForm(request.POST or None, chain=chain,
                             initial={f: getattr(sub, f) for f in fields} | {"version": sub.version})
    back = sub.service.provider.get_absolute_url()
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        version = data.pop("version", None)
        try:
            services.subcontractor_update(actor=request.user, subcontractor=sub, expected_version=version,
                                          **{f: data[f] for f in fields})
        except ValidationError as exc:
            add_form_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect(back)
    return _form_page(request, form, title=f"Edit {sub.legal_name}", back=back,
                      lead=f"In the chain of {sub.service.name}. Moving it moves its own subcontractors with it.")


@login_required
@require_POST
def subcontractor_remove(request: HttpRequest, pk: int) -> HttpResponse:
    sub = selectors.get_subcontractor(**_scope(request), pk=pk)
    return perform(request, lambda: services.subcontractor_remove(
        actor=request.user, subcontractor=sub, expected_version=posted_version(request)),
        success=f"{sub.legal_name} removed from the chain.",
                   then=sub.service.provider.get_absolute_url())


# --- due diligence ---------------------------------------------------------------------------


@login_required
def assessment_new(request: HttpRequest, pk: int) -> HttpResponse:
    provider = selectors.provider_get(**_scope(request), pk=pk)
    require_role(request.user, provider.buyer, Role.MEMBER)
    form = AssessmentSendForm(
        request.POST or None, initial={"invite_email": getattr(services.primary_contact(provider), "email", ""),
                                       "selection": request.GET.get("selection")},
        templates=selectors.template_list(**_scope(request)),
        selections=selectors.selection_list(**_scope(request)).filter(chosen__isnull=True),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.assessment_send(actor=request.user, provider=provider, **form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, f"Questionnaire sent to {provider}.")
            return redirect(provider)
    return _form_page(request, form, title=f"Send a due-diligence questionnaire to {provider}",
                      back=provider.get_absolute_url())


ASSESSMENT_TABLE = Table(
    columns=[
        Column("provider.legal_name", "Provider", order_by="provider__legal_name"),
        Column("provider.buyer.name", "Sent by", order_by="provider__buyer__name"),
        Column("template.name", "Questionnaire"),
        Column("status", "Status", order_by="status", value=lambda a: a.get_status_display()),
        Column("due_date", "Due", order_by="due_date"),
    ],
    default_sort="due_date",
    search_fields=["provider__legal_name"],
    filters={"status": "status"},
)


@login_required
@require_GET
def assessment_list(request: HttpRequest) -> HttpResponse:
    queryset = selectors.assessment_list(**_scope(request))
    if request.GET.get("format") == "csv":
        return ASSESSMENT_TABLE.csv_response(ASSESSMENT_TABLE.filtered(request, queryset), "assessments")
    context = ASSESSMENT_TABLE.apply(request, queryset)
    context["statuses"] = Assessment.Status.choices
    return render_page(request, "providers/assessment_list.html", context, fragment="results")


def _questions_with_answers(assessment: Assessment) -> list[tuple[Question, Any]]:
    answers = {a.question_id: a for a in assessment.answers.all()}
    return [(q, answers.get(q.pk)) for q in selectors.template_questions(assessment.template)]


def _answers_from_post(request: HttpRequest, questions: list[Question]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for question in questions:
        name = f"q-{question.key}"
        if question.kind == "multi":
            if f"{name}-shown" in request.POST:
                answers[question.key] = request.POST.getlist(name)
        elif question.kind == "file":
            if name in request.FILES:
                answers[question.key] = request.FILES[name]
        elif name in request.POST:
            answers[question.key] = request.POST[name]
    return answers


def _answer_context(assessment: Assessment, errors: dict | None = None) -> dict[str, Any]:
    return {"assessment": assessment, "rows": _questions_with_answers(assessment), "errors": errors or {}}


@login_required
@require_GET
def assessment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    assessment = selectors.assessment_get(**_scope(request), pk=pk)
    side = selectors.side_of_assessment(assessment, request.organization)
    context = _answer_context(assessment) | {"side": side, "tab": request.GET.get("tab", "answers")}
    if context["tab"] == "history":
        records = selectors.assessment_history(assessment, **_scope(request))
        if request.GET.get("format") == "csv":
            return HISTORY_TABLE.csv_response(HISTORY_TABLE.filtered(request, records), f"{assessment}-history")
        context.update(HISTORY_TABLE.apply(request, records))
    if side == "buyer":
        result = selectors.assessment_result(assessment)
        context.update({
            "result": result,
            "result_scores": {row.question.pk: row.score for row in result.questions},
            "reviews": assessment.reviews.select_related("reviewer"),
            "review_form": ReviewForm(),
            "conclude_form": ConcludeForm(initial={"version": assessment.version}),
        })
    return render_page(request, "providers/assessment_detail.html", context, fragment="tab")


def _save_answers(request: HttpRequest, assessment: Assessment, token: str | None) -> dict | None:
    """Save (and submit, if asked) the posted answers; the errors by question key, or None."""
    questions = selectors.template_questions(assessment.template)
    actor = None if token else request.user
    try:
        services.assessment_answer(actor=actor, assessment=assessment,
                                   answers=_answers_from_post(request, questions), token=token)
        if request.POST.get("action") == "submit":
            services.assessment_submit(actor=actor, assessment=assessment, token=token)
    except ValidationError as exc:
        return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return None


@login_required
@require_POST
def assessment_answer(request: HttpRequest, pk: int) -> HttpResponse:
    assessment = selectors.assessment_get(**_scope(request), pk=pk)
    errors = _save_answers(request, assessment, None)
    if errors:
        assessment.refresh_from_db()
        context = _answer_context(assessment, errors) | {"side": "provider", "tab": "answers"}
        return render(request, "providers/assessment_detail.html", context, status=422)
    submitted = request.POST.get("action") == "submit"
    messages.success(request, "Submitted: the answers are now locked." if submitted else "Answers saved.")
    return redirect(assessment)


@never_cache
@require_http_methods(["GET", "POST"])
def assessment_answer_by_link(request: HttpRequest, token: str) -> HttpResponse:
    """A candidate without an account answers here; the link is the only key."""
    try:
        assessment = services.assessment_for_token(token)
    except services.LinkUnusable as exc:
        return render(request, "providers/link_unusable.html", {"reason": str(exc)}, status=404)
    errors = None
    if request.method == "POST":
        errors = _save_answers(request, assessment, token)
        if not errors:
            submitted = request.POST.get("action") == "submit"
            messages.success(request, "Submitted: the answers are now locked." if submitted else "Answers saved.")
            return redirect(request.path)
        assessment.refresh_from_db()
    context = _answer_context(assessment, errors) | {"side": "provider", "by_link": True}
    return render(request, "providers/answer_by_link.html", context, status=422 if errors else 200)


@login_required
@require_GET
def assessment_evidence(request: HttpRequest, pk: int, key: str) -> FileResponse:
    """A file given as evidence, to both sides of the assessment (404 for anyone else)."""
    assessment = selectors.assessment_get(**_scope(request), pk=pk)
    answer = assessment.answers.filter(question__key=key, question__kind="file").first()
    if answer is None or not answer.evidence:
        raise Http404("No such object.")
    path = storage.path_of(answer.evidence.name)
    if not path.is_file():
        raise Http404("No such object.")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=scoring.evidence_name(answer))


def _buyer_assessment(request: HttpRequest, pk: int) -> Assessment:
    assessment = selectors.assessment_get(**_scope(request), pk=pk)
    if selectors.side_of_assessment(assessment, request.organization) != "buyer":
        raise Http404("No such object.")
    return assessment


@login_required
@require_POST
def assessment_resend_link(request: HttpRequest, pk: int) -> HttpResponse:
    assessment = _buyer_assessment(request, pk)
    return perform(request, lambda: services.assessment_resend_link(actor=request.user, assessment=assessment),
                   success=f"A new link was emailed to {assessment.invite_email}; the old one no longer works.",
                   then=assessment.get_absolute_url())


@login_required
@require_POST
def assessment_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    assessment = _buyer_assessment(request, pk)
    return perform(request, lambda: services.assessment_reopen(
        actor=request.user, assessment=assessment, reason=request.POST.get("reason", "")),
        success="Reopened: the provider can change its answers again.", then=assessment.get_absolute_url())


@login_required
@require_POST
def assessment_review(request: HttpRequest, pk: int) -> HttpResponse:
    assessment = _buyer_assessment(request, pk)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a score from 0 to 100 and a comment.")
        return redirect(assessment)
    return perform(request, lambda: services.assessment_review(
        actor=request.user, assessment=assessment, **form.cleaned_data),
        success="Review added.", then=assessment.get_absolute_url())


@login_required
@require_POST
def assessment_conclude(request: HttpRequest, pk: int) -> HttpResponse:
    assessment = _buyer_assessment(request, pk)
    form = ConcludeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a conclusion.")
        return redirect(assessment)
    data = form.cleaned_data
    return perform(request, lambda: services.assessment_conclude(
        actor=request.user, assessment=assessment, conclusion=data["conclusion"], note=data["note"],
        expected_version=data.get("version")), success="Concluded.", then=assessment.get_absolute_url())


@login_required
def selection_index(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        return redirect("home")
    form = SelectionForm(request.POST or None)
    if request.method == "POST":
        require_role(request.user, request.organization, Role.MEMBER)
        if form.is_valid():
            try:
                selection = services.selection_create(actor=request.user, buyer=request.organization,
                                                      **form.cleaned_data)
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                return redirect(selection)
    return render(request, "providers/selection_list.html", {
        "selections": selectors.selection_list(**_scope(request)), "form": form},
        status=422 if request.method == "POST" else 200)


@login_required
@require_GET
def selection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    selection = selectors.selection_get(**_scope(request), pk=pk)
    candidates, rows = selectors.selection_comparison(selection)
    return render(request, "providers/selection_detail.html", {
        "selection": selection, "candidates": candidates, "rows": rows,
        "register": selectors.provider_list(**_scope(request)).exclude(status="exited").exclude(
            assessments__selection=selection),
    })


@login_required
@require_POST
def selection_choose(request: HttpRequest, pk: int) -> HttpResponse:
    selection = selectors.selection_get(**_scope(request), pk=pk)
    form = ChooseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why you choose this candidate.")
        return redirect(selection)
    assessment = selection.assessments.filter(pk=form.cleaned_data["assessment"]).first()
    if assessment is None:
        raise Http404("No such object.")
    return perform(request, lambda: services.selection_choose(
        actor=request.user, selection=selection, assessment=assessment, note=form.cleaned_data["note"]),
        success=f"{assessment.provider} is chosen for {selection.service_name}.",
        then=selection.get_absolute_url())


@login_required
@require_GET
def template_index(request: HttpRequest) -> HttpResponse:
    templates = selectors.template_list(**_scope(request))
    return render(request, "providers/template_list.html", {"templates": templates})


@login_required
def template_new(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        return redirect("home")
    require_role(request.user, request.organization, Role.MEMBER)
    form = TemplateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            template = services.template_create(actor=request.user, organization=request.organization, definition={
                "name": data["name"], "description": data["description"],
                "sections": [{"title": data["first_section"], "questions": []}]},
                allow_empty=True)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Template created: add its questions.")
            return redirect("questionnaire_template", pk=template.pk)
    return _form_page(request, form, title="New questionnaire template", back="questionnaire_templates")


@login_required
def template_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from sourcewise.core.selectors import get_visible

    template = get_visible(selectors.template_list(**_scope(request)), **_scope(request), pk=pk)
    sections = template.sections.all()
    section_form = SectionForm(request.POST if request.POST.get("form") == "section" else None)
    question_form = QuestionForm(request.POST if request.POST.get("form") == "question" else None,
                                 sections=sections)
    if request.method == "POST":
        require_role(request.user, template.organization, Role.MEMBER)
        form = section_form if request.POST.get("form") == "section" else question_form
        if form.is_valid():
            data = form.cleaned_data
            try:
                if form is section_form:
                    services.template_add_section(actor=request.user, template=template, title=data["title"])
                else:
                    red_flags = form.red_flags()
                    if form.errors:
                        raise ValidationError({})
                    services.template_add_question(
                        actor=request.user, section=data["section"], text=data["text"], kind=data["kind"],
                        weight=data["weight"], options=services.parse_options(data["kind"], data["options"]),
                        red_flags=red_flags)
            except ValidationError as exc:
                if exc.messages:
                    add_form_errors(form, exc)
            else:
                messages.success(request, "Added.")
                return redirect("questionnaire_template", pk=template.pk)
    return render(request, "providers/template_detail.html", {
        "template": template, "sections": sections.prefetch_related("questions"),
        "in_use": Assessment.objects.filter(template=template).exists(),
        "section_form": section_form, "question_form": question_form,
    }, status=422 if request.method == "POST" else 200)


# --- the relationship -------------------------------------------------------------------------


INTERACTION_TABLE = Table(
    columns=[
        Column("date", "Date", order_by="date"),
        Column("kind", "Kind", order_by="kind", value=lambda i: i.get_kind_display()),
        Column("initiated_by", "Initiated by", order_by="initiated_by"),
        Column("title", "Title", order_by="title"),
        Column("topics", "Topics"),
        Column("follow_ups", "Follow-ups", value=lambda i: "; ".join(
            f"{f.description} ({f.owner}{', done' if f.done_at else ''})" for f in i.follow_ups.all())),
    ],
    default_sort="-date",
    search_fields=["title", "topics"],
    filters={"kind": "kind"},
    per_page=20,
)


@login_required
def relationship(request: HttpRequest, pk: int) -> HttpResponse:
    """An engagement's interaction log and health, and its change notices: both sides see it."""
    engagement = engagement_get(**_scope(request), pk=pk)
    interactions = selectors.interaction_list(**_scope(request), engagement=engagement)
    if request.GET.get("format") == "csv":
        return INTERACTION_TABLE.csv_response(INTERACTION_TABLE.filtered(request, interactions),
                                              f"{engagement.name}-interactions")
    side = engagement.side_of(request.organization)
    form = InteractionForm(request.POST or None, initial={"date": timezone.localdate(), "initiated_by": side})
    if request.method == "POST":
        require_engagement_role(request.user, engagement, Role.MEMBER, organization=request.organization)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.interaction_log(
                    actor=request.user, engagement=engagement, organization=request.organization,
                    date=data["date"], kind=data["kind"], initiated_by=data["initiated_by"],
                    title=data["title"], topics=data["topics"], follow_ups=form.follow_ups())
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                messages.success(request, "Interaction logged.")
                return redirect("relationship", pk=engagement.pk)
    context = INTERACTION_TABLE.apply(request, interactions)
    context.update({
        "engagement": engagement, "side": side, "form": form,
        "health": selectors.relationship_health(engagement),
        "kinds": Interaction.Kind.choices,
        "notices": selectors.change_notice_list(**_scope(request)).filter(engagement=engagement),
        "can_log": can_write(request.user, request.organization) and engagement.status != "ended",
    })
    status = 422 if request.method == "POST" else 200
    return render_page(request, "providers/relationship.html", context, fragment="results", status=status)


@login_required
@require_POST
def follow_up_done(request: HttpRequest, pk: int) -> HttpResponse:
    follow_up = selectors.follow_up_get(**_scope(request), pk=pk)
    return perform(request, lambda: services.follow_up_done(
        actor=request.user, follow_up=follow_up, organization=request.organization),
        success="Follow-up done.", then=f"/providers/engagements/{follow_up.interaction.engagement_id}/relationship/")


@login_required
def change_notice_new(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = engagement_get(**_scope(request), pk=pk)
    require_engagement_role(request.user, engagement, Role.MEMBER, side="provider",
                            organization=request.organization)
    form = ChangeNoticeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            notice = services.change_notice_announce(actor=request.user, engagement=engagement,
                                                     organization=request.organization, **form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, f"Announced to {engagement.buyer}.")
            return redirect(notice)
    return _form_page(request, form, title=f"Announce a change to {engagement.buyer}",
                      back=f"/providers/engagements/{engagement.pk}/relationship/",
                      lead="Announce it early: the buyer reviews, asks for evidence or objects before the date.")


@login_required
def change_notice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    notice = selectors.change_notice_get(**_scope(request), pk=pk)
    side = notice.engagement.side_of(request.organization)
    form = RespondForm(request.POST or None, kinds=list(services.RESPONSES.get(side, {})),
                       initial={"version": notice.version})
    if request.method == "POST":
        require_engagement_role(request.user, notice.engagement, Role.MEMBER, organization=request.organization)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.change_notice_respond(actor=request.user, notice=notice, organization=request.organization,
                                               kind=data["kind"], text=data["text"],
                                               expected_version=data.get("version"))
            except ValidationError as exc:
                add_form_errors(form, exc)
            except Conflict as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Response recorded.")
                return redirect(notice)
    return render(request, "providers/change_notice_detail.html", {
        "notice": notice, "side": side, "form": form,
        "responses": notice.responses.select_related("author"),
    }, status=422 if request.method == "POST" else 200)
