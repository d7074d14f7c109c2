"""Pages of monitoring: thin views that parse, call a service or selector, and render."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from sourcewise.accounts.models import Organization
from sourcewise.core import charts
from sourcewise.core.errors import Conflict
from sourcewise.core.htmx import add_form_errors, is_htmx, perform, render_page
from sourcewise.core.models import Engagement
from sourcewise.core.permissions import require_engagement_role
from sourcewise.core.selectors import engagement_get, engagement_list
from sourcewise.core.tables import Column, Table
from sourcewise.core.tenancy import Role
from sourcewise.monitoring import files, selectors, services
from sourcewise.monitoring.forms import DeliveryForm, FeedForm, LocationForm, SuiteForm, schema_text
from sourcewise.monitoring.models import Delivery, Finding, UploadSession


def _scope(request: HttpRequest) -> dict:
    return {"user": request.user, "organization": request.organization}


FINDING_TABLE = Table(
    columns=[
        Column("period", "Day", order_by="period"),
        Column("feed.engagement.name", "Engagement", order_by="feed__engagement__name"),
        Column("feed.name", "Feed", order_by="feed__name"),
        Column("check_name", "Check", order_by="check_name"),
        Column("kind", "Kind", order_by="kind", value=lambda f: f.get_kind_display()),
        Column("status", "Status", order_by="status"),
        Column("failing_rows", "Failing rows", order_by="failing_rows"),
        Column("message", "What fell short"),
    ],
    default_sort="-period",
    search_fields=["check_name", "check_id", "message", "feed__name", "feed__engagement__name"],
    filters={"kind": "kind", "status": "status", "feed": "feed_id"},
)


@login_required
@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    if request.organization is None:
        return redirect("home")
    engagements = engagement_list(**_scope(request)).exclude(status=Engagement.Status.ENDED)
    # Counted in subqueries: two joined counts would multiply deliveries by findings.
    def count_of(model):
        rows = model.objects.filter(feed=OuterRef("pk")).order_by().values("feed")
        return Subquery(rows.annotate(n=Count("pk")).values("n")[:1], output_field=IntegerField())

    feeds = selectors.feed_list(**_scope(request)).annotate(
        n_deliveries=Coalesce(count_of(Delivery), 0), n_findings=Coalesce(count_of(Finding), 0),
    ).order_by("engagement__name", "name")
    by_engagement = {e.pk: {"engagement": e, "feeds": []} for e in engagements}
    for feed in feeds:
        if feed.engagement_id in by_engagement:
            by_engagement[feed.engagement_id]["feeds"].append(feed)
    recent = selectors.finding_list(**_scope(request)).order_by("-created_at", "-pk")[:8]
    providers = Organization.objects.filter(
        pk__in=engagements.exclude(provider=request.organization).values("provider")).order_by("name")
    return render(request, "monitoring/landing.html", {
        "groups": list(by_engagement.values()), "recent": recent, "providers": providers,
        "own_provider": engagements.filter(provider=request.organization).exists(),
    })


@login_required
def feed_new(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = engagement_get(**_scope(request), pk=pk)
    require_engagement_role(request.user, engagement, Role.MEMBER, organization=request.organization)
    form = FeedForm(request.POST or None, engagement=engagement)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            feed = services.feed_create(
                actor=request.user, organization=request.organization, engagement=engagement,
                **{k: v for k, v in data.items() if k != "version"})
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, f"Feed '{feed.name}' added with a first suite. Write what you expect of it.")
            return redirect(feed)
    status = 422 if request.method == "POST" else 200
    return render(request, "monitoring/feed_form.html",
                  {"form": form, "engagement": engagement, "title": f"New feed for {engagement.name}"},
                  status=status)


@login_required
def feed_edit(request: HttpRequest, pk: int) -> HttpResponse:
    feed = selectors.feed_get(**_scope(request), pk=pk)
    require_engagement_role(request.user, feed.engagement, Role.MEMBER, organization=request.organization)
    initial = {f: getattr(feed, f) for f in services.FEED_FIELDS} | {
        "expected_schema": schema_text(feed.expected_schema),
        "customer_columns": ", ".join(feed.customer_columns), "version": feed.version}
    form = FeedForm(request.POST or None, initial=initial, engagement=feed.engagement)
    form.fields["slug"].disabled = True  # suites name the feed by it
    form.fields["slug"].help_text = "Suites name the feed by it, so it does not change."
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.feed_update(actor=request.user, organization=request.organization, feed=feed,
                                 expected_version=data.pop("version"), **data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect(feed)
    status = 422 if request.method == "POST" else 200
    return render(request, "monitoring/feed_form.html",
                  {"form": form, "engagement": feed.engagement, "feed": feed, "title": f"Edit {feed.name}"},
                  status=status)


@login_required
@require_GET
def feed_detail(request: HttpRequest, pk: int) -> HttpResponse:
    feed = selectors.feed_get(**_scope(request), pk=pk)
    suite = feed.current_suite()
    side = feed.engagement.side_of(request.organization)
    deliveries = selectors.delivery_list(**_scope(request)).filter(feed=feed).prefetch_related("runs")[:30]
    findings = selectors.finding_list(**_scope(request)).filter(feed=feed).order_by("-period", "-pk")[:20]
    return render(request, "monitoring/feed_detail.html", {
        "feed": feed, "engagement": feed.engagement, "suite": suite, "side": side,
        "suite_form": SuiteForm(initial={"text": suite.text if suite else "", "number": getattr(suite, "number", None)}),
        "upload_form": DeliveryForm(), "location_form": LocationForm(), "deliveries": deliveries, "findings": findings,
        "fetching": feed.upload_sessions.filter(
            status__in=[UploadSession.Status.OPEN, UploadSession.Status.FETCHING]).exclude(location="")
            .select_related("created_by").order_by("-pk")[:10],
        "not_fetched": feed.upload_sessions.filter(status=UploadSession.Status.FAILED).exclude(location="")
                                           .select_related("created_by").order_by("-pk")[:10],
        "versions": feed.suite_versions.select_related("created_by").order_by("-number")[:10],
        "can_edit_suite": side == "buyer" and _can_write(request),
        "max_upload": services._size(int(settings.UPLOAD_MAX_BYTES)),
    })


def _can_write(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    from sourcewise.core.tenancy import role_at_least

    return membership is not None and role_at_least(membership.role, Role.MEMBER)


@login_required
@require_POST
def suite_save(request: HttpRequest, pk: int) -> HttpResponse:
    feed = selectors.feed_get(**_scope(request), pk=pk)
    form = SuiteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the suite before saving it.")
        return redirect(feed)
    try:
        version = services.suite_save(actor=request.user, organization=request.organization, feed=feed,
                                      text=form.cleaned_data["text"], note=form.cleaned_data["note"],
                                      expected_number=form.cleaned_data["number"])
    except ValidationError as exc:
        problems = exc.message_dict.get("text", exc.messages) if hasattr(exc, "error_dict") else exc.messages
        messages.error(request, "The suite was not saved: " + " ".join(problems))
        return redirect(feed)
    except Conflict as exc:
        messages.error(request, str(exc))
        return redirect(feed)
    messages.success(request, f"Saved as version {version.number}. New deliveries are checked with it.")
    return redirect(feed)


@login_required
@require_POST
def suite_validate(request: HttpRequest, pk: int) -> HttpResponse:
    """As the buyer types: the suite's problems, or that it is valid. Saves nothing."""
    feed = selectors.feed_get(**_scope(request), pk=pk)
    problems = services.suite_validate(feed=feed, text=request.POST.get("text", ""))
    return render(request, "monitoring/_suite_problems.html", {"problems": problems})


@login_required
@require_POST
def suite_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The draft suite run against the latest accepted delivery; nothing is stored."""
    feed = selectors.feed_get(**_scope(request), pk=pk)
    require_engagement_role(request.user, feed.engagement, Role.MEMBER, organization=request.organization)
    preview = services.suite_preview(feed=feed, text=request.POST.get("text", ""))
    return render(request, "monitoring/_suite_preview.html", {"preview": preview, "feed": feed})


@csrf_exempt
@login_required
@require_POST
def delivery_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload a delivery: the file is written once, straight into storage, as the request arrives.

    The upload handler must be installed before anything reads the body, so CSRF is
    checked afterwards by `_delivery_upload` (csrf_protect), the way Django's docs say.
    """
    feed = selectors.feed_get(**_scope(request), pk=pk)
    # Refuse before reading a large body for someone who may not deliver.
    require_engagement_role(request.user, feed.engagement, Role.MEMBER, organization=request.organization)
    handler = files.upload_handler(request, int(settings.UPLOAD_MAX_BYTES))
    request.upload_handlers = [handler]
    try:
        return _delivery_upload(request, feed)
    finally:
        handler.cleanup()  # a file not adopted (refused form, broken request) is not kept


@csrf_protect
def _delivery_upload(request: HttpRequest, feed) -> HttpResponse:
    form = DeliveryForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a file to upload. " + " ".join(
            e for errors in form.errors.values() for e in errors))
        return redirect(feed)
    upload = form.cleaned_data["file"]
    try:
        delivery = services.delivery_receive(
            actor=request.user, organization=request.organization, feed=feed, stream=upload,
            filename=upload.name, period=form.cleaned_data["period"], source=Delivery.Source.PAGE)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(feed)
    if delivery.status == Delivery.Status.REJECTED:
        messages.error(request, f"'{delivery.original_name}' was rejected: {delivery.reason} "
                                "The attempt is kept in the feed's deliveries.")
        return redirect(delivery)
    run = delivery.runs.order_by("-pk").first()
    messages.success(request, f"'{delivery.original_name}' received ({services._size(delivery.size_bytes)}, "
                              f"sha256 {delivery.sha256[:12]}…). It is being checked.")
    return redirect(run or delivery)


@login_required
@require_POST
def delivery_register(request: HttpRequest, pk: int) -> HttpResponse:
    """A file in a drop folder inside the storage root, or an s3:// object, taken as a delivery."""
    feed = selectors.feed_get(**_scope(request), pk=pk)
    form = LocationForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the file's path inside the storage root, or an s3://bucket/key URL.")
        return redirect(feed)
    try:
        session = services.delivery_register(actor=request.user, organization=request.organization, feed=feed,
                                             location=form.cleaned_data["location"],
                                             period=form.cleaned_data["period"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(feed)
    messages.success(request, f"{session.location} registered: the worker copies it in and checks it. "
                              "It appears below among the deliveries when it has arrived.")
    return redirect(feed)


@login_required
@require_GET
def delivery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = selectors.delivery_get(**_scope(request), pk=pk)
    runs = delivery.runs.select_related("suite_version").order_by("-pk")
    return render(request, "monitoring/delivery_detail.html",
                  {"delivery": delivery, "feed": delivery.feed, "runs": runs})


@login_required
@require_GET
def delivery_download(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = selectors.delivery_get(**_scope(request), pk=pk)
    if not delivery.stored_path or not delivery.path.exists():
        raise Http404("Nothing was stored for this delivery.")
    return FileResponse(open(delivery.path, "rb"), as_attachment=True, filename=delivery.original_name)


@login_required
@require_POST
def delivery_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = selectors.delivery_get(**_scope(request), pk=pk)
    holder: dict = {}

    def action():
        holder["run"] = services.run_repeat(actor=request.user, organization=request.organization, delivery=delivery)

    response = perform(request, action, success="Checking the delivery again.", then=delivery.get_absolute_url())
    return redirect(holder["run"]) if "run" in holder else response


@login_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.run_get(**_scope(request), pk=pk)
    if request.GET.get("format") == "json":
        if run.result is None:
            raise Http404("This run has no result document.")
        response = HttpResponse(json.dumps(run.result, indent=2, ensure_ascii=False),
                                content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="run-{run.pk}.json"'
        return response
    findings = run.findings.order_by("pk")
    context = {"run": run, "feed": run.feed, "delivery": run.delivery, "findings": findings,
               "checks": (run.result or {}).get("checks", [])}
    response = render_page(request, "monitoring/run_detail.html", context, fragment="status")
    if is_htmx(request) and run.finished:
        # The run is over: reload the whole page once so its findings appear.
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_GET
def finding_index(request: HttpRequest) -> HttpResponse:
    feed = request.GET.get("feed", "").strip()
    if feed and not feed.isdigit():
        raise Http404("No such feed.")
    queryset = selectors.finding_list(**_scope(request))
    if request.GET.get("format") == "csv":
        return FINDING_TABLE.csv_response(FINDING_TABLE.filtered(request, queryset), "findings")
    context = FINDING_TABLE.apply(request, queryset)
    return render_page(request, "monitoring/finding_list.html", context, fragment="results")


@login_required
@require_GET
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    finding = selectors.finding_get(**_scope(request), pk=pk)
    trend = selectors.finding_trend(finding)
    points = [(f"{o.period} (run #{o.run_id})", o.status, o.failing_rows or 0) for o in trend]
    columns = list(dict.fromkeys(k for row in finding.sample for k in row))
    return render(request, "monitoring/finding_detail.html", {
        "finding": finding, "feed": finding.feed, "trend": trend, "chart": charts.bars(points),
        "sample_columns": columns,
        "sample_rows": [[row.get(c) for c in columns] for row in finding.sample],
    })


@login_required
@require_GET
def finding_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The affected rows as CSV or Parquet, or the affected customers' keys as CSV."""
    finding = selectors.finding_get(**_scope(request), pk=pk)
    what, fmt = request.GET.get("what", "rows"), request.GET.get("format", "csv")
    path = finding.affected_file
    if path is None or not path.exists():
        raise Http404("This finding has no affected rows to download.")
    stem = f"finding-{finding.pk}-{finding.check_id}"
    if what == "customers":
        if not finding.customer_columns:
            raise Http404("The feed names no customer key columns.")
        response = StreamingHttpResponse(files.csv_lines(finding.customer_columns, finding.customer_keys()),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{stem}-customers.csv"'
        return response
    if fmt == "parquet":
        return FileResponse(open(path, "rb"), as_attachment=True, filename=f"{stem}.parquet",
                            content_type="application/vnd.apache.parquet")
    response = StreamingHttpResponse(files.parquet_as_csv(path), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
    return response


def _scorecard_response(request: HttpRequest, *, title: str, lead: str, filename: str, **scope):
    if request.GET.get("format") == "csv":
        rows = selectors.scorecard_rows(**_scope(request), **scope)
        header = ["engagement", "feed", "check_id", "check", "severity", "period", "run", "status",
                  "failing_rows", "total_rows"]
        lines = files.csv_lines(header, ([o.feed.engagement.name, o.feed.name, o.check_id, o.check_name,
                                          o.severity, o.period, o.run_id, o.status, o.failing_rows,
                                          o.total_rows] for o in rows.iterator(chunk_size=2000)))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}-scorecard.csv"'
        return response
    card = selectors.scorecard(**_scope(request), **scope)
    rows = [{"score": s, "chart": charts.bars([(str(p), st, n) for p, st, n in s.series])} for s in card.checks]
    late = selectors.finding_list(**_scope(request)).filter(kind=Finding.Kind.LATE).filter(
        **{("feed__engagement" if k == "engagement" else "feed__engagement__provider"): v for k, v in scope.items()}
    ).order_by("-period")[:20]
    return render(request, "monitoring/scorecard.html",
                  {"card": card, "rows": rows, "late": late, "title": title, "lead": lead})


@login_required
@require_GET
def engagement_scorecard(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = engagement_get(**_scope(request), pk=pk)
    return _scorecard_response(
        request, title=f"Scorecard: {engagement.name}",
        lead=f"Every check of what {engagement.provider.name} delivers to {engagement.buyer.name}, over time.",
        filename=f"engagement-{engagement.pk}", engagement=engagement)


@login_required
@require_GET
def provider_scorecard(request: HttpRequest, pk: int) -> HttpResponse:
    # A provider is reachable only through an engagement the user may see.
    engagements = engagement_list(**_scope(request)).filter(provider_id=pk)
    provider = Organization.objects.filter(pk=pk, pk__in=engagements.values("provider")).first()
    if provider is None:
        raise Http404("No such provider.")
    return _scorecard_response(
        request, title=f"Scorecard: {provider.name}",
        lead=f"Every check of {provider.name}'s deliveries in the engagements you share with it.",
        filename=f"provider-{provider.pk}", provider=provider)

