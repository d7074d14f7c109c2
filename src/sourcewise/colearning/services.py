"""Every write of co-learning: one action per business step, audited, in one transaction.

Either side's members write challenges, research, studies, insights, ideas and
learnings; each artifact records the side that wrote it. Only the client's (buyer's)
managers decide on ideas and consent to sharing a learning.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from sourcewise.accounts.models import Membership, User
from sourcewise.colearning import anonymise, semantic
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
from sourcewise.core import audit, edits, storage
from sourcewise.core.errors import Conflict
from sourcewise.core.models import Engagement
from sourcewise.core.permissions import require_engagement_role
from sourcewise.core.tenancy import Role
from sourcewise.engine import metrics as kpi

CHALLENGE_FIELDS = (
    "problem", "outcome", "courage_access", "courage_consent", "courage_limits",
    "budget_shadowing_planned", "budget_shadowing_spent", "budget_testing_planned",
    "budget_testing_spent", "stories_customers", "stories_project",
)
BUDGET_FIELDS = CHALLENGE_FIELDS[5:9]
MAX_TEXT = 20000


def _writer(actor: User, engagement: Engagement, organization: Any) -> Membership:
    """Members of either side write; the side they act for is recorded."""
    if engagement.status == Engagement.Status.ENDED:
        raise ValidationError("This engagement has ended; its co-learning is kept as it was.")
    return require_engagement_role(actor, engagement, Role.MEMBER, organization=organization)


def _side(engagement: Engagement, membership: Membership) -> str:
    return engagement.side_of(membership.organization) or "buyer"


def _text(fields: dict[str, Any], errors: dict[str, str], name: str, *, required: str | None = None,
          limit: int = MAX_TEXT) -> str:
    value = str(fields.get(name) or "").strip()
    if required and not value:
        errors[name] = required
    elif len(value) > limit:
        errors[name] = f"Keep this under {limit} characters."
    return value


def _tags(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    tags = []
    for tag in str(value or "").split(","):
        tag = tag.strip().lower()
        if tag and tag not in tags:
            tags.append(tag)
    return ", ".join(tags)[:300]


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)


# --- Challenges -----------------------------------------------------------


def _clean_challenge(fields: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    out["problem"] = _text(fields, errors, "problem", limit=300,
                           required="Say the problem in the client's words.")
    out["outcome"] = _text(fields, errors, "outcome",
                           required="Say what measurable outcome will show it worked.")
    for name in ("courage_access", "courage_consent", "courage_limits", "stories_customers",
                 "stories_project"):
        out[name] = _text(fields, errors, name)
    for name in BUDGET_FIELDS:
        raw = fields.get(name)
        try:
            amount = decimal.Decimal(str(raw if raw not in (None, "") else 0))
        except (decimal.InvalidOperation, ValueError):
            errors[name] = "Give an amount, e.g. 12000 or 12000.50."
            continue
        if not amount.is_finite() or amount < 0:
            errors[name] = "An amount cannot be negative."
        elif amount >= 10**10:
            errors[name] = "This amount is too large."
        else:
            out[name] = amount.quantize(decimal.Decimal("0.01"))
    _raise(errors)
    return out


@transaction.atomic
def challenge_create(*, actor: User, engagement: Engagement, organization: Any = None,
                     **fields: Any) -> Challenge:
    """A shared problem to solve, with its outcome and power-ups (courage, budget, stories)."""
    unknown = set(fields) - set(CHALLENGE_FIELDS)
    if unknown:
        raise ValidationError({k: "This field is not part of a challenge." for k in sorted(unknown)})
    membership = _writer(actor, engagement, organization)
    challenge = Challenge.objects.create(
        engagement=engagement, author=actor, author_side=_side(engagement, membership),
        **_clean_challenge(fields),
    )
    audit.record(actor=actor, action="colearning.challenge.create", obj=challenge,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(challenge, ["author_side", *CHALLENGE_FIELDS])))
    return challenge


@transaction.atomic
def challenge_update(*, actor: User, challenge: Challenge, expected_version: int | None,
                     organization: Any = None, **changes: Any) -> Challenge:
    """Edit a challenge; refused (Conflict) if someone saved a newer version meanwhile."""
    edits.refuse_unknown(changes, CHALLENGE_FIELDS)
    challenge = Challenge.objects.select_for_update(of=("self",)).select_related("engagement").get(pk=challenge.pk)
    membership = _writer(actor, challenge.engagement, organization)
    return edits.save_edit(
        challenge, fields=CHALLENGE_FIELDS, changes=changes, clean=_clean_challenge,
        expected_version=expected_version, what="challenge", actor=actor,
        action="colearning.challenge.update", organization=membership.organization,
    )


# --- Research ---------------------------------------------------------------


def _stored_upload(upload: Any, directory: str) -> storage.StoredFile:
    """Stream an upload into storage (hashed, renamed into place only when whole).

    Refused past UPLOAD_MAX_BYTES and when empty; a refused file leaves nothing behind.
    """
    limit = int(settings.UPLOAD_MAX_BYTES)
    suffix = Path(getattr(upload, "name", "") or "").suffix.lower()[:10]
    stored = storage.stream_to_storage(upload, directory=directory, suffix=suffix, compressed=False,
                                       limit=limit)
    if stored.too_large:
        raise ValidationError({"file": f"The file is larger than the limit of {filesizeformat(limit)} "
                                       f"({filesizeformat(stored.size)} or more); nothing was kept."})
    if stored.size == 0:
        storage.discard(stored.relative_path)
        raise ValidationError({"file": "The file is empty; choose a file with something in it."})
    return stored


def _upload_name(upload: Any) -> str:
    raw = str(getattr(upload, "name", "") or "").replace("\\", "/")
    return Path(raw).name.strip()[:200] or "attachment"


def research_session_create(
    *, actor: User, challenge: Challenge, kind: str, held_on: dt.date | None, title: str,
    buyer_observers: str = "", provider_observers: str = "", consent: bool = False,
    consent_note: str = "", notes: str = "", tags: Any = "", attachments: Iterable[Any] = (),
    organization: Any = None,
) -> ResearchSession:
    """A shadowing session or interview; people are observed only with their consent.

    Files given with it become its first attachments (see `attachment_add`).
    """
    _writer(actor, challenge.engagement, organization)  # refuse before reading any upload
    return _with_files(attachments, challenge, lambda stored: _session_create(
        actor=actor, challenge=challenge, kind=kind, held_on=held_on, title=title,
        buyer_observers=buyer_observers, provider_observers=provider_observers, consent=consent,
        consent_note=consent_note, notes=notes, tags=tags, stored=stored, organization=organization))


def _session_create(*, actor: User, challenge: Challenge, kind: str, held_on: Any, title: str,
                    buyer_observers: str, provider_observers: str, consent: bool, consent_note: str,
                    notes: str, tags: Any, stored: list[tuple[str, storage.StoredFile]],
                    organization: Any) -> ResearchSession:
    membership = _writer(actor, challenge.engagement, organization)
    errors: dict[str, str] = {}
    fields = dict(title=title, buyer_observers=buyer_observers, provider_observers=provider_observers,
                  consent_note=consent_note, notes=notes)
    title = _text(fields, errors, "title", limit=200, required="Give the session a title.")
    buyer_observers = _text(fields, errors, "buyer_observers", limit=300)
    provider_observers = _text(fields, errors, "provider_observers", limit=300)
    consent_note = _text(fields, errors, "consent_note", limit=300)
    notes = _text(fields, errors, "notes")
    if kind not in ResearchSession.Kind.values:
        errors["kind"] = "Say whether it is a shadowing session or an interview."
    if not isinstance(held_on, dt.date):
        errors["held_on"] = "Give the date as YYYY-MM-DD."
    if not consent:
        errors["consent"] = ("Record the consent of the people observed; without it the session "
                             "cannot be recorded.")
    if not buyer_observers and not provider_observers:
        errors["provider_observers"] = "Name who observed, from at least one side."
    _raise(errors)
    session = ResearchSession.objects.create(
        challenge=challenge, kind=kind, held_on=held_on, title=title,
        buyer_observers=buyer_observers, provider_observers=provider_observers,
        consent=True, consent_note=consent_note, notes=notes, tags=_tags(tags), author=actor,
        author_side=_side(challenge.engagement, membership),
    )
    audit.record(actor=actor, action="colearning.research.create", obj=session,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(session, [
                     "kind", "held_on", "title", "buyer_observers", "provider_observers",
                     "consent", "consent_note", "tags", "author_side"])))
    for name, kept in stored:
        _attach(actor=actor, owner=session, name=name, stored=kept, membership=membership)
    return session


# --- Attachments --------------------------------------------------------------


def _directory(challenge: Challenge) -> str:
    return f"colearning/attachments/{challenge.engagement_id}/{challenge.pk}"


def _with_files(uploads: Iterable[Any], challenge: Challenge, write: Any) -> Any:
    """Stream `uploads` into storage, then run `write(stored)` in one transaction.

    Files go to storage first (a large upload holds no lock meanwhile); if anything is
    refused or the write fails, every file of this call is removed again.
    """
    stored: list[tuple[str, storage.StoredFile]] = []
    try:
        for upload in uploads:
            if upload is not None:
                name = _upload_name(upload)
                stored.append((name, _stored_upload(upload, _directory(challenge))))
        with transaction.atomic():
            return write(stored)
    except BaseException:
        for _name, kept in stored:
            storage.discard(kept.relative_path)
        raise


def _attach(*, actor: User, owner: ResearchSession | Observation, name: str, stored: storage.StoredFile,
            membership: Membership) -> Attachment:
    kind = "session" if isinstance(owner, ResearchSession) else "observation"
    attachment = Attachment.objects.create(
        challenge_id=owner.challenge_id, **{kind: owner}, file=stored.relative_path, name=name,
        size_bytes=stored.size, sha256=stored.sha256, author=actor,
        author_side=_side(owner.challenge.engagement, membership),
    )
    audit.record(actor=actor, action="colearning.attachment.add", obj=attachment,
                 organization=membership.organization,
                 changes=audit.created({kind: f"{owner} (#{owner.pk})", "name": name,
                                        "size_bytes": stored.size, "sha256": stored.sha256,
                                        "author_side": attachment.author_side}))
    return attachment


def attachment_add(*, actor: User, owner: ResearchSession | Observation, upload: Any,
                   organization: Any = None) -> Attachment:
    """Keep a file with a research session or an observation (members of either side)."""
    _writer(actor, owner.challenge.engagement, organization)  # refuse before reading the upload

    def write(stored: list[tuple[str, storage.StoredFile]]) -> Attachment:
        locked = type(owner).objects.select_for_update(of=("self",)).select_related(
            "challenge__engagement").get(pk=owner.pk)
        membership = _writer(actor, locked.challenge.engagement, organization)
        name, kept = stored[0]
        return _attach(actor=actor, owner=locked, name=name, stored=kept, membership=membership)
    if upload is None:
        raise ValidationError({"file": "Choose a file to attach."})
    return _with_files([upload], owner.challenge, write)


@transaction.atomic
def attachment_remove(*, actor: User, attachment: Attachment, organization: Any = None) -> None:
    """Remove an attachment: only the side that added it may (members and above).

    The file is deleted once the removal has committed: if the transaction rolls back,
    the row and its file are both still there.
    """
    attachment = Attachment.objects.select_for_update(of=("self",)).select_related(
        "challenge__engagement", "session", "observation").get(pk=attachment.pk)
    engagement = attachment.challenge.engagement
    membership = _writer(actor, engagement, organization)
    if _side(engagement, membership) != attachment.author_side:
        raise PermissionDenied(f"Only the {attachment.author_side}'s side, which added this file, "
                               "may remove it.")
    kind = "session" if attachment.session_id else "observation"
    audit.record(actor=actor, action="colearning.attachment.remove", obj=attachment,
                 organization=membership.organization,
                 changes={kind: {"before": f"{attachment.owner} (#{attachment.owner.pk})", "after": None},
                          "name": {"before": attachment.name, "after": None},
                          "sha256": {"before": attachment.sha256, "after": None}})
    relative_path = attachment.file.name
    attachment.delete()
    transaction.on_commit(lambda: storage.discard(relative_path))


def observation_create(
    *, actor: User, challenge: Challenge, persona: str, experience: str, pain_points: str = "",
    desired_outcome: str = "", quotes: str = "", tags: Any = "",
    session: ResearchSession | None = None, attachments: Iterable[Any] = (), organization: Any = None,
) -> Observation:
    """Who is in the process, what they experience, their pains, hopes and words.

    Files given with it become its first attachments (see `attachment_add`).
    """
    _writer(actor, challenge.engagement, organization)  # refuse before reading any upload
    return _with_files(attachments, challenge, lambda stored: _observation_create(
        actor=actor, challenge=challenge, persona=persona, experience=experience,
        pain_points=pain_points, desired_outcome=desired_outcome, quotes=quotes, tags=tags,
        session=session, stored=stored, organization=organization))


def _observation_create(*, actor: User, challenge: Challenge, persona: str, experience: str,
                        pain_points: str, desired_outcome: str, quotes: str, tags: Any,
                        session: ResearchSession | None, stored: list[tuple[str, storage.StoredFile]],
                        organization: Any) -> Observation:
    membership = _writer(actor, challenge.engagement, organization)
    errors: dict[str, str] = {}
    fields = dict(persona=persona, experience=experience, pain_points=pain_points,
                  desired_outcome=desired_outcome, quotes=quotes)
    cleaned = {
        "persona": _text(fields, errors, "persona", limit=200,
                         required="Say who: a role or persona, e.g. customer in arrears."),
        "experience": _text(fields, errors, "experience", required="Say what they experience."),
        "pain_points": _text(fields, errors, "pain_points"),
        "desired_outcome": _text(fields, errors, "desired_outcome"),
        "quotes": _text(fields, errors, "quotes"),
    }
    if session is not None and session.challenge_id != challenge.pk:
        errors["session"] = "That session belongs to another challenge."
    _raise(errors)
    observation = Observation.objects.create(
        challenge=challenge, session=session, tags=_tags(tags), author=actor,
        author_side=_side(challenge.engagement, membership), **cleaned,
    )
    audit.record(actor=actor, action="colearning.observation.create", obj=observation,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(observation, [
                     "session", "persona", "experience", "pain_points", "desired_outcome",
                     "quotes", "tags", "author_side"])))
    for name, kept in stored:
        _attach(actor=actor, owner=observation, name=name, stored=kept, membership=membership)
    return observation


# --- Data studies -------------------------------------------------------------


def _clean_metrics(raw: Any) -> list[dict[str, str]]:
    """User-defined metrics as [{"name", "formula"}]; each formula must parse."""
    if raw in (None, "", []):
        return []
    if isinstance(raw, str):
        # One per line: "name = formula".
        items = []
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, formula = line.partition("=")
            if not sep:
                raise ValidationError({"metrics": f"Line {number}: write name = formula."})
            items.append({"name": name.strip(), "formula": formula.strip()})
        raw = items
    cleaned: list[dict[str, str]] = []
    problems: list[str] = []
    for item in raw:
        name = str(item.get("name", "")).strip().lower().replace(" ", "_")
        formula = str(item.get("formula", "")).strip()
        if not name.isidentifier():
            problems.append(f"{name or '(no name)'}: a metric's name is letters, digits and _")
            continue
        if name in kpi.COLLECTIONS_METRICS or name in {c["name"] for c in cleaned} or name in (
                "period", "segment"):
            problems.append(f"{name}: this name is already taken")
            continue
        try:
            kpi.parse_metric(formula)
        except kpi.MetricError as exc:
            problems.append(f"{name}: {exc}")
            continue
        cleaned.append({"name": name, "formula": formula})
    if problems:
        raise ValidationError({"metrics": "; ".join(problems)})
    if len(cleaned) > 20:
        raise ValidationError({"metrics": "At most 20 metrics of your own per study."})
    return cleaned


@transaction.atomic
def study_create(*, actor: User, challenge: Challenge, name: str, grain: str = "month",
                 segment_column: str = "segment", metrics: Any = None,
                 organization: Any = None) -> DataStudy:
    """A data study: the collections KPI set plus the team's own metrics, by week or month."""
    membership = _writer(actor, challenge.engagement, organization)
    errors: dict[str, str] = {}
    name = _text({"name": name}, errors, "name", limit=200, required="Give the study a name.")
    if grain not in DataStudy.Grain.values:
        errors["grain"] = "Choose week or month."
    segment_column = (segment_column or "").strip()
    if segment_column and not segment_column.replace("_", "a").isalnum():
        errors["segment_column"] = "Name a column: letters, digits and _."
    _raise(errors)
    study = DataStudy.objects.create(
        challenge=challenge, name=name, grain=grain, segment_column=segment_column,
        metrics=_clean_metrics(metrics), author=actor,
        author_side=_side(challenge.engagement, membership),
    )
    audit.record(actor=actor, action="colearning.study.create", obj=study,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(study, ["name", "grain", "segment_column",
                                                             "metrics", "author_side"])))
    return study


def study_metrics(study: DataStudy, own: list[dict[str, str]] | None = None) -> dict[str, kpi.Metric]:
    """The collections KPI set and the study's own metrics (or `own`, when changing them)."""
    metrics = {name: kpi.parse_metric(text) for name, text in kpi.COLLECTIONS_METRICS.items()}
    for item in study.metrics if own is None else own:
        metrics[item["name"]] = kpi.parse_metric(item["formula"])
    return metrics


def _compute(study: DataStudy, stored: str, own: list[dict[str, str]] | None = None) -> kpi.KpiResult:
    return kpi.compute_file_kpis(
        str(storage.path_of(stored)), metrics=study_metrics(study, own), time_column="call_date",
        grain=study.grain, segment_column=study.segment_column or None,
        required=kpi.COLLECTIONS_COLUMNS,
    )


def _record_run(*, locked: DataStudy, actor: User, stored: str, original: str, size: int,
                result: kpi.KpiResult | None, errors: list[str]) -> tuple[StudyRun, dict[str, Any]]:
    """A run of `locked` (already locked); a successful one becomes the current one."""
    number = (locked.runs.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    run = StudyRun.objects.create(
        study=locked, number=number, file=stored, file_name=original, size_bytes=size,
        status=StudyRun.Status.FAILED if errors else StudyRun.Status.SUCCEEDED,
        errors=errors, row_count=result.row_count if result else None,
        results={"grain": locked.grain, "metrics": list(study_metrics(locked)),
                 "rows": result.rows} if result else {},
        uploaded_by=actor,
    )
    changes: dict[str, Any] = {"run": {"before": None, "after": number},
                               "status": {"before": None, "after": run.status}}
    if not errors:
        changes["current_run"] = {"before": locked.current_run_id, "after": run.pk}
        locked.current_run = run
        locked.version += 1
        locked.save(update_fields=["current_run", "version", "metrics"])
    else:
        changes["errors"] = {"before": None, "after": errors}
    return run, changes


# Files up to this size are computed during the upload; larger ones by a background task.
INLINE_MAX_BYTES = 20 * 1024**2


def study_upload(*, actor: User, study: DataStudy, upload: Any, organization: Any = None) -> StudyRun:
    """Upload call-centre data and compute the study's KPIs over time.

    The file is streamed to storage and checked first: missing or mistyped columns are
    named, the run is recorded as failed, and the study keeps its previous results.
    Only a run that succeeds becomes the study's current one. A large file is computed
    by a task: its run is pending until then.
    """
    engagement = study.challenge.engagement
    membership = _writer(actor, engagement, organization)
    original = Path(getattr(upload, "name", "") or "data.csv").name[:200]
    if not original.lower().endswith((".csv", ".parquet")):
        raise ValidationError({"file": "Upload a CSV file (with a header row) or a Parquet file."})
    kept = _stored_upload(upload, f"colearning/studies/{study.pk}")
    stored, size = kept.relative_path, kept.size
    inline = size <= getattr(settings, "COLEARNING_INLINE_MAX_BYTES", INLINE_MAX_BYTES)
    result, errors = None, []
    if inline:
        # Computing can take a while; no transaction is held open meanwhile.
        try:
            result = _compute(study, stored)
        except kpi.MetricError as exc:
            errors = [str(exc)]
    try:
        with transaction.atomic():
            locked = DataStudy.objects.select_for_update().get(pk=study.pk)
            if inline:
                run, changes = _record_run(locked=locked, actor=actor, stored=stored, original=original,
                                           size=size, result=result, errors=errors)
            else:
                number = (locked.runs.order_by("-number").values_list("number", flat=True).first() or 0) + 1
                run = StudyRun.objects.create(study=locked, number=number, file=stored, file_name=original,
                                              size_bytes=size, status=StudyRun.Status.PENDING,
                                              uploaded_by=actor)
                changes = {"run": {"before": None, "after": number},
                           "status": {"before": None, "after": run.status}}
                from sourcewise.colearning.tasks import compute_study_run

                transaction.on_commit(lambda: compute_study_run.enqueue(run.pk))
            audit.record(actor=actor, action="colearning.study.upload", obj=locked,
                         organization=membership.organization, changes=changes)
    except BaseException:
        storage.discard(stored)
        raise
    study.refresh_from_db()
    return run


def study_run_compute(*, run_id: int) -> StudyRun | None:
    """Compute a pending run (the task's work); a run already finished is left alone.

    Safe to repeat: a worker killed half-way leaves the run pending, and the retry computes it.
    """
    run = StudyRun.objects.select_related("study").filter(pk=run_id, status=StudyRun.Status.PENDING).first()
    if run is None:
        return None
    try:
        result, errors = _compute(run.study, run.file.name), []
    except kpi.MetricError as exc:
        result, errors = None, [str(exc)]
    with transaction.atomic():
        locked = DataStudy.objects.select_for_update().get(pk=run.study_id)
        run = StudyRun.objects.select_for_update().get(pk=run.pk)
        if run.status != StudyRun.Status.PENDING:
            return run
        run.status = StudyRun.Status.FAILED if errors else StudyRun.Status.SUCCEEDED
        run.errors = errors
        run.row_count = result.row_count if result else None
        run.results = {"grain": locked.grain, "metrics": list(study_metrics(locked)),
                       "rows": result.rows} if result else {}
        run.save(update_fields=["status", "errors", "row_count", "results"])
        changes: dict[str, Any] = {"run": {"before": None, "after": run.number},
                                   "status": {"before": "pending", "after": run.status}}
        # A newer upload that already succeeded stays current.
        if not errors and (locked.current_run is None or locked.current_run.number < run.number):
            changes["current_run"] = {"before": locked.current_run_id, "after": run.pk}
            locked.current_run = run
            locked.version += 1
            locked.save(update_fields=["current_run", "version"])
        audit.record(actor=None, action="colearning.study.compute", obj=locked, changes=changes)
    return run


def study_set_metrics(*, actor: User, study: DataStudy, metrics: Any, expected_version: int | None = None,
                      organization: Any = None) -> DataStudy:
    """Change the study's own metrics and recompute its current data with them.

    The new metrics are computed first: a formula that does not fit the data (an unknown
    column, text where a number is needed) is refused by name and nothing changes.
    """
    membership = _writer(actor, study.challenge.engagement, organization)
    own = _clean_metrics(metrics)
    current = study.current_run
    result = None
    if current is not None:
        try:
            result = _compute(study, current.file.name, own)
        except kpi.MetricError as exc:
            raise ValidationError({"metrics": str(exc)}) from None
    with transaction.atomic():
        locked = DataStudy.objects.select_for_update().get(pk=study.pk)
        if expected_version is not None and expected_version != locked.version:
            raise Conflict("Someone changed this study after you opened it. Reload, then change "
                           "the metrics again.")
        if locked.current_run_id != (current.pk if current else None):
            raise Conflict("New data was uploaded meanwhile. Reload, then change the metrics again.")
        changes: dict[str, Any] = {"metrics": {"before": locked.metrics, "after": own}}
        locked.metrics = own
        if current is not None:
            _run, run_changes = _record_run(locked=locked, actor=actor, stored=current.file.name,
                                            original=current.file_name, size=current.size_bytes,
                                            result=result, errors=[])
            changes.update(run_changes)
        else:
            locked.version += 1
            locked.save(update_fields=["metrics", "version"])
        audit.record(actor=actor, action="colearning.study.metrics", obj=locked,
                     organization=membership.organization, changes=changes)
    study.refresh_from_db()
    return study


# --- Insights, ideas, decisions, tests -----------------------------------------


def _same_challenge(items: Iterable[Any], challenge: Challenge, label: str,
                    errors: dict[str, str], attr: str = "challenge_id") -> list[Any]:
    items = list(items)
    for item in items:
        owner = getattr(item, attr)
        if owner != challenge.pk:
            errors[label] = f"Cite only {label.replace('_', ' ')} of this challenge."
    return items


@transaction.atomic
def insight_create(*, actor: User, challenge: Challenge, statement: str,
                   observations: Iterable[Observation] = (), study_runs: Iterable[StudyRun] = (),
                   evidence_note: str = "", organization: Any = None) -> Insight:
    """An insight, citing its evidence: observations and study results."""
    membership = _writer(actor, challenge.engagement, organization)
    errors: dict[str, str] = {}
    statement = _text({"statement": statement}, errors, "statement", required="State the insight.")
    evidence_note = _text({"n": evidence_note}, errors, "n")
    observations = _same_challenge(observations, challenge, "observations", errors)
    runs = list(study_runs)
    for run in runs:
        if run.study.challenge_id != challenge.pk:
            errors["study_runs"] = "Cite only study results of this challenge."
        elif run.status != StudyRun.Status.SUCCEEDED:
            errors["study_runs"] = "Cite a study run that succeeded."
    if not observations and not runs:
        errors["observations"] = "An insight cites its evidence: at least one observation or study result."
    _raise(errors)
    insight = Insight.objects.create(challenge=challenge, statement=statement,
                                     evidence_note=evidence_note, author=actor,
                                     author_side=_side(challenge.engagement, membership))
    insight.observations.set(observations)
    insight.study_runs.set(runs)
    audit.record(actor=actor, action="colearning.insight.create", obj=insight,
                 organization=membership.organization,
                 changes=audit.created({"statement": statement, "evidence_note": evidence_note,
                                        "observations": sorted(o.pk for o in observations),
                                        "study_runs": sorted(r.pk for r in runs),
                                        "author_side": insight.author_side}))
    return insight


@transaction.atomic
def idea_create(*, actor: User, challenge: Challenge, title: str, insights: Iterable[Insight],
                expected_impact: str, test_proposed: str, effort: str = "medium",
                description: str = "", organization: Any = None) -> Idea:
    """An idea grown from insights, with its expected impact, effort and the test proposed."""
    membership = _writer(actor, challenge.engagement, organization)
    errors: dict[str, str] = {}
    fields = dict(title=title, expected_impact=expected_impact, test_proposed=test_proposed,
                  description=description)
    title = _text(fields, errors, "title", limit=200, required="Give the idea a title.")
    expected_impact = _text(fields, errors, "expected_impact", required="Say what impact you expect.")
    test_proposed = _text(fields, errors, "test_proposed", required="Propose how to test it.")
    description = _text(fields, errors, "description")
    if effort not in Idea.Effort.values:
        errors["effort"] = "Choose low, medium or high."
    insights = _same_challenge(insights, challenge, "insights", errors)
    if not insights:
        errors["insights"] = "An idea comes from at least one insight."
    _raise(errors)
    idea = Idea.objects.create(challenge=challenge, title=title, expected_impact=expected_impact,
                               test_proposed=test_proposed, description=description, effort=effort,
                               author=actor, author_side=_side(challenge.engagement, membership))
    idea.insights.set(insights)
    audit.record(actor=actor, action="colearning.idea.create", obj=idea,
                 organization=membership.organization,
                 changes=audit.created({**audit.snapshot(idea, [
                     "title", "expected_impact", "effort", "test_proposed", "author_side"]),
                     "insights": sorted(i.pk for i in insights)}))
    return idea


DECISIONS = ("pursued", "declined", "on_hold")


@transaction.atomic
def idea_decide(
    *, actor: User, idea: Idea, decision: str, expected_version: int | None = None,
    reason: str = "", revisit_on: dt.date | None = None, revisit_trigger: str = "",
    project_owner: str = "", milestones: Iterable[tuple[str, dt.date | None]] = (),
    organization: Any = None,
) -> Idea:
    """The client decides: pursue (a project with owner and milestones), decline (why),
    or put on hold (until a date or a trigger; a reminder follows on the date)."""
    idea = Idea.objects.select_for_update(of=("self",)).select_related("challenge__engagement").get(pk=idea.pk)
    engagement = idea.challenge.engagement
    if engagement.status == Engagement.Status.ENDED:
        raise ValidationError("This engagement has ended; its co-learning is kept as it was.")
    membership = require_engagement_role(actor, engagement, Role.MANAGER, side="buyer",
                                         organization=organization)
    if expected_version is not None and expected_version != idea.version:
        raise Conflict("Someone decided on or changed this idea after you opened it. "
                       "Reload to see the decision, then make yours again.")
    errors: dict[str, str] = {}
    fields = dict(reason=reason, revisit_trigger=revisit_trigger, project_owner=project_owner)
    reason = _text(fields, errors, "reason")
    revisit_trigger = _text(fields, errors, "revisit_trigger", limit=300)
    project_owner = _text(fields, errors, "project_owner", limit=200)
    milestones = [(str(t or "").strip(), d) for t, d in milestones if str(t or "").strip()]
    if decision not in DECISIONS:
        errors["decision"] = "Decide pursued, declined or on_hold."
    elif decision == "declined" and not reason:
        errors["reason"] = "Say why the idea is declined: the provider learns from it."
    elif decision == "on_hold":
        if revisit_on is None and not revisit_trigger:
            errors["revisit_on"] = "Give a date to revisit it, or the event that should bring it back."
        elif revisit_on is not None and revisit_on <= timezone.localdate():
            errors["revisit_on"] = "The revisit date must be in the future."
    elif decision == "pursued" and not project_owner:
        errors["project_owner"] = "Name who owns the project the idea becomes."
    for title, due in milestones:
        if len(title) > 200:
            errors["milestones"] = "Keep each milestone under 200 characters."
        if due is not None and not isinstance(due, dt.date):
            errors["milestones"] = "Give milestone dates as YYYY-MM-DD."
    _raise(errors)
    fields_logged = ["status", "decline_reason", "revisit_on", "revisit_trigger", "project_owner"]
    before = audit.snapshot(idea, fields_logged)
    idea.status = decision
    idea.decline_reason = reason if decision == "declined" else ""
    idea.revisit_on = revisit_on if decision == "on_hold" else None
    idea.revisit_trigger = revisit_trigger if decision == "on_hold" else ""
    idea.reminder_sent_at = None
    idea.project_owner = project_owner if decision == "pursued" else ""
    idea.decided_by, idea.decided_at = actor, timezone.now()
    idea.version += 1
    idea.updated_at = timezone.now()
    idea.save()
    added = []
    if decision == "pursued":
        for title, due in milestones:
            added.append(Milestone.objects.create(idea=idea, title=title, due_on=due))
    changes = audit.diff(before, audit.snapshot(idea, fields_logged))
    if added:
        changes["milestones"] = {"before": None, "after": [f"{m.title} ({m.due_on or 'no date'})" for m in added]}
    audit.record(actor=actor, action=f"colearning.idea.{decision}", obj=idea,
                 organization=membership.organization, changes=changes)
    return idea


@transaction.atomic
def milestone_complete(*, actor: User, milestone: Milestone, organization: Any = None) -> Milestone:
    """Mark a step of a pursued idea's project done (either side's members)."""
    milestone = Milestone.objects.select_for_update(of=("self",)).select_related(
        "idea__challenge__engagement").get(pk=milestone.pk)
    membership = _writer(actor, milestone.idea.challenge.engagement, organization)
    if milestone.done:
        raise ValidationError("This milestone is already done.")
    milestone.done = True
    milestone.save(update_fields=["done"])
    audit.record(actor=actor, action="colearning.milestone.complete", obj=milestone,
                 organization=membership.organization,
                 changes={"done": {"before": False, "after": True}})
    return milestone


IDEA_TEST_FIELDS = ("hypothesis", "metric", "result", "outcome")


def _clean_idea_test(fields: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out = {
        "hypothesis": _text(fields, errors, "hypothesis", required="State the hypothesis."),
        "metric": _text(fields, errors, "metric", limit=200, required="Name the metric that judges it."),
        "result": _text(fields, errors, "result"),
        "outcome": fields.get("outcome"),
    }
    if out["outcome"] not in IdeaTest.Outcome.values:
        errors["outcome"] = "Choose running, confirmed, refuted or inconclusive."
    elif out["outcome"] != "running" and not out["result"]:
        errors["result"] = "Record the result that supports this outcome."
    _raise(errors)
    return out


@transaction.atomic
def idea_test_create(*, actor: User, idea: Idea, hypothesis: str, metric: str, result: str = "",
                     outcome: str = "running", organization: Any = None) -> IdeaTest:
    """A test of an idea: hypothesis, the metric that judges it, and its result."""
    membership = _writer(actor, idea.challenge.engagement, organization)
    if idea.status == Idea.Status.DECLINED:
        raise ValidationError({"idea": "This idea was declined; it is not being tested."})
    cleaned = _clean_idea_test(dict(hypothesis=hypothesis, metric=metric, result=result, outcome=outcome))
    test = IdeaTest.objects.create(idea=idea, **cleaned, author=actor,
                                   author_side=_side(idea.challenge.engagement, membership))
    audit.record(actor=actor, action="colearning.idea_test.create", obj=test,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(test, ["idea", "hypothesis", "metric", "result",
                                                            "outcome", "author_side"])))
    return test


@transaction.atomic
def idea_test_update(*, actor: User, test: IdeaTest, expected_version: int | None,
                     organization: Any = None, **changes: Any) -> IdeaTest:
    """Edit a test (hypothesis, metric, result, outcome), e.g. to record its result when it ends.

    Members of either side; refused (Conflict) if someone saved a newer version meanwhile.
    A test of a declined idea can still get its result: it may have run before the decision.
    """
    edits.refuse_unknown(changes, IDEA_TEST_FIELDS)
    test = IdeaTest.objects.select_for_update(of=("self",)).select_related(
        "idea__challenge__engagement").get(pk=test.pk)
    membership = _writer(actor, test.idea.challenge.engagement, organization)
    return edits.save_edit(
        test, fields=IDEA_TEST_FIELDS, changes=changes, clean=_clean_idea_test,
        expected_version=expected_version, what="test", actor=actor,
        action="colearning.idea_test.update", organization=membership.organization,
    )


# --- Learnings ------------------------------------------------------------------


@transaction.atomic
def learning_create(*, actor: User, challenge: Challenge, title: str, body: str,
                    process: str = "", tags: Any = "", industry: str | None = None,
                    organization: Any = None) -> Learning:
    """What the engagement learned, kept with it (sharing is a separate, consented step)."""
    membership = _writer(actor, challenge.engagement, organization)
    errors: dict[str, str] = {}
    fields = dict(title=title, body=body, process=process, industry=industry)
    title = _text(fields, errors, "title", limit=200, required="Give the learning a title.")
    body = _text(fields, errors, "body", required="Write what was learned.")
    process = _text(fields, errors, "process", limit=100)
    industry = _text(fields, errors, "industry", limit=100) or challenge.engagement.buyer.industry
    _raise(errors)
    learning = Learning.objects.create(challenge=challenge, title=title, body=body, process=process,
                                       industry=industry, tags=_tags(tags), author=actor,
                                       author_side=_side(challenge.engagement, membership))
    audit.record(actor=actor, action="colearning.learning.create", obj=learning,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(learning, ["title", "industry", "process",
                                                                "tags", "author_side"])))
    return learning


@transaction.atomic
def learning_consent(*, actor: User, learning: Learning, organization: Any = None) -> Learning:
    """The buyer's manager agrees that the learning may go, anonymised, to the provider's library."""
    learning = Learning.objects.select_for_update(of=("self",)).select_related("challenge__engagement").get(pk=learning.pk)
    membership = require_engagement_role(actor, learning.challenge.engagement, Role.MANAGER,
                                         side="buyer", organization=organization)
    if learning.has_consent:
        raise ValidationError("Consent to share this learning was already given.")
    learning.consent_by, learning.consent_at = actor, timezone.now()
    learning.save(update_fields=["consent_by", "consent_at"])
    audit.record(actor=actor, action="colearning.learning.consent", obj=learning,
                 organization=membership.organization,
                 changes={"consent_at": {"before": None, "after": audit.to_json_value(learning.consent_at)}})
    return learning


@transaction.atomic
def learning_share(*, actor: User, learning: Learning, organization: Any = None) -> SharedLearning:
    """Copy the learning, without the client's identity, to the provider's library.

    Refused without the buyer's consent. The copy names neither the client, its people,
    nor any customer identifier; it is visible to the provider across its clients.
    """
    learning = Learning.objects.select_for_update(of=("self",)).select_related(
        "challenge__engagement__buyer", "challenge__engagement__provider").get(pk=learning.pk)
    engagement = learning.challenge.engagement
    membership = require_engagement_role(actor, engagement, Role.MEMBER, organization=organization)
    if not learning.has_consent:
        raise ValidationError("The client has not consented to sharing this learning: "
                              "a manager of the buyer must consent first.")
    if SharedLearning.objects.filter(source=learning).exists():
        raise ValidationError("This learning is already in the provider's library.")
    scrub = anonymise.for_client(engagement.buyer)
    title, body = scrub(learning.title), scrub(learning.body)
    process, tags = scrub(learning.process), scrub(learning.tags)
    shared = SharedLearning.objects.create(
        provider=engagement.provider, source=learning, title=title, body=body,
        industry=learning.industry, process=process, tags=tags,
        embedding=semantic.embed(" ".join([title, body, process, tags])),
    )
    audit.record(actor=actor, action="colearning.learning.share", obj=shared,
                 organization=membership.organization,
                 changes=audit.created({"title": title, "industry": shared.industry,
                                        "process": process, "provider": engagement.provider.pk}))
    return shared


# --- Reminders --------------------------------------------------------------


def trigger_review_days() -> int:
    """How often the client is asked whether an on-hold idea's trigger has happened."""
    return int(settings.COLEARNING_TRIGGER_REVIEW_DAYS)


def reminder_due(now: dt.datetime) -> Q:
    """On-hold ideas whose reminder is due at `now`.

    With a revisit date: once, on that date. With only a trigger (an event no date can
    foresee): every COLEARNING_TRIGGER_REVIEW_DAYS days after the hold, asking the client
    whether it has happened; at most one reminder per period, even if the worker was
    down for several.
    """
    today = timezone.localdate(now)
    cutoff = now - dt.timedelta(days=trigger_review_days())
    on_date = Q(revisit_on__isnull=False, revisit_on__lte=today, reminder_sent_at__isnull=True)
    on_trigger = Q(revisit_on__isnull=True) & ~Q(revisit_trigger="") & (
        Q(reminder_sent_at__lte=cutoff)
        | Q(reminder_sent_at__isnull=True, decided_at__lte=cutoff)
        | Q(reminder_sent_at__isnull=True, decided_at__isnull=True, updated_at__lte=cutoff))
    return Q(status=Idea.Status.ON_HOLD) & (on_date | on_trigger)


def next_trigger_review(idea: Idea) -> dt.datetime | None:
    """When the next trigger review reminder of an on-hold idea goes out (None: no such reminder)."""
    if idea.status != Idea.Status.ON_HOLD or idea.revisit_on is not None or not idea.revisit_trigger:
        return None
    since = idea.reminder_sent_at or idea.decided_at or idea.updated_at
    return since + dt.timedelta(days=trigger_review_days())


@transaction.atomic
def idea_remind(*, idea_id: int, now: dt.datetime) -> bool:
    """Email the client's managers and owners about one on-hold idea, if still due; sent or not."""
    idea = Idea.objects.select_for_update(of=("self",)).select_related(
        "challenge__engagement__buyer").filter(reminder_due(now), pk=idea_id).first()
    if idea is None:
        return False
    buyer = idea.challenge.engagement.buyer
    recipients = list(Membership.objects.filter(
        organization=buyer, role__in=[Role.MANAGER, Role.OWNER], user__is_active=True,
    ).values_list("user__email", flat=True))
    before = idea.reminder_sent_at
    # Stamped with the run's clock: the next trigger review is due a period after it.
    idea.reminder_sent_at = now
    idea.save(update_fields=["reminder_sent_at"])
    reason = "revisit_on" if idea.revisit_on else "revisit_trigger"
    audit.record(actor=None, action="colearning.idea.remind", obj=idea,
                 changes={"reminder_sent_at": {"before": audit.to_json_value(before),
                                               "after": audit.to_json_value(idea.reminder_sent_at)},
                          "reason": {"before": None, "after": reason},
                          "recipients": {"before": None, "after": recipients}})
    if reason == "revisit_on":
        subject = f"Revisit the idea on hold: {idea.title}"
        message = (f"You put the idea \"{idea.title}\" ({idea.challenge.problem}) on hold until "
                   f"{idea.revisit_on}. It is time to decide again: pursue, decline or hold it.\n")
    else:
        days = trigger_review_days()
        subject = f"Has it happened yet? The idea on hold: {idea.title}"
        message = (f"You put the idea \"{idea.title}\" ({idea.challenge.problem}) on hold until this "
                   f"happens: {idea.revisit_trigger}\n\nIf it has, decide again: pursue, decline or "
                   f"hold it with a new date or trigger. While it stays on hold you are asked every "
                   f"{days} days.\n")
    if recipients:
        transaction.on_commit(lambda: send_mail(subject, message, None, recipients, fail_silently=False))
    return True
