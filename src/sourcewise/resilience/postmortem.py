"""The postmortem of a closed incident: Markdown (kept on the incident) and a PDF of it."""

from __future__ import annotations

from django.utils import timezone

from sourcewise.resilience.models import Cause, Incident


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "not yet"


def postmortem_markdown(incident: Incident) -> str:
    """What happened, impact, timeline, cause, options and decision, controls, lessons."""
    engagement = incident.engagement
    lines = [
        f"# Postmortem: {incident.title}",
        "",
        f"Engagement: {engagement.name} ({engagement.buyer} buys, {engagement.provider} provides)  ",
        f"Incident #{incident.pk}, severity {incident.get_severity_display().lower()}, "
        f"reported {_when(incident.reported_at)}, closed {_when(incident.closed_at)}",
        "",
        "## What happened",
        "",
        incident.description or incident.title,
        "",
        f"Acknowledged by {incident.acknowledged_by or 'nobody'}: \u201c{incident.acknowledgement}\u201d  ",
        f"Caused by: {incident.get_caused_by_display().lower()}"
        + (f" ({incident.caused_by_detail})" if incident.caused_by_detail else "")
        + f". Owned toward customers by {engagement.buyer} (the buyer).",
        "",
        "## Impact",
        "",
        f"- Customers affected: {len(incident.affected_customers)}",
    ]
    if incident.failing_rows:
        lines.append(f"- Failing rows: {incident.failing_rows}")
    checks = [c.label or c.check_name for c in incident.checks.all()] or (
        [incident.check_name] if incident.check_name else [])
    if checks:
        noun = "check" if len(checks) == 1 else "checks"
        lines.append(f"- Detected by the {noun} {'; '.join(checks)} on {incident.feed_name}")
    if incident.plan:
        lines.append(
            f"- Tolerance of {incident.plan.service}: {incident.plan.max_customers_affected} customers, "
            f"{incident.plan.max_disruption_hours} hours"
        )
    for measure in incident.measures():
        target = f" (target {measure['target_hours']} h)" if measure["target_hours"] else ""
        verdict = "" if measure["within"] is None else (" within tolerance" if measure["within"] else " OVER tolerance")
        lines.append(f"- Time to {measure['label']}: {measure['hours']} h{target}{verdict}")
    if incident.affected_customers:
        shown = ", ".join(incident.affected_customers[:50])
        more = len(incident.affected_customers) - 50
        lines.append(f"- Affected customers: {shown}" + (f" and {more} more" if more > 0 else ""))
    lines += ["", "## Timeline", ""]
    for entry in incident.timeline.all().order_by("at", "pk"):
        lines.append(f"- {_when(entry.at)} ({entry.actor_label}): {entry.text}")
    lines += ["", "## Cause", ""]
    for cause in incident.causes.all().order_by("kind", "pk"):
        label = "Root cause" if cause.kind == Cause.Kind.ROOT else "Contributing factor"
        lines.append(f"- **{label}** ({cause.get_category_display().lower()}): {cause.mechanism}")
    lines += ["", "## Options and decision", ""]
    for option in incident.options.all().prefetch_related("comments"):
        chosen = " **(chosen)**" if option.pk == incident.chosen_option_id else ""
        lines.append(f"- {option.title}{chosen}: cost {option.cost}; time {option.time}; "
                     f"risk {option.risk}; trade-offs: {option.tradeoffs}")
        for comment in option.comments.all():
            lines.append(f"  - {comment.author} ({comment.side}): {comment.text}")
    if incident.chosen_option_id:
        lines.append("")
        lines.append(f"Decided by {incident.decided_by} on {_when(incident.solution_agreed_at)}."
                     + (f" {incident.decision_note}" if incident.decision_note else ""))
    lines += ["", "## Preventive controls", ""]
    for control in incident.controls.all().select_related("owner"):
        state = "in place" if control.done_at else f"due {control.due_on}"
        extra = f" (new check on {control.feed_name}: {control.applied_note or 'not added yet'})" if control.check_spec else ""
        lines.append(f"- {control.description}: owner {control.owner}, {state}{extra}")
    lines += ["", "## Lessons", "", incident.lessons or "None recorded.", ""]
    if incident.signed_off_by:
        lines.append(f"Signed off for {engagement.buyer} by {incident.signed_off_by} on {_when(incident.signed_off_at)}.")
    related = list(incident.resembles.select_related("similar"))
    if related:
        lines += ["", "## Similar incidents", ""]
        lines += [f"- #{link.similar.pk} {link.similar.title} ({link.reason})" for link in related]
    return "\n".join(lines).rstrip() + "\n"


def _latin1(text: str) -> str:
    """The PDF's built-in fonts speak Latin-1; typographic quotes and dashes are mapped."""
    table = {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2013": "-", "\u2014": "-",
             "\u2026": "...", "\u2192": "->"}
    text = "".join(table.get(ch, ch) for ch in text)
    return text.encode("latin-1", "replace").decode("latin-1")


def postmortem_pdf(markdown: str) -> bytes:
    """The Markdown postmortem as a simple PDF (headings, bullets, paragraphs)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for raw in markdown.splitlines():
        line = _latin1(raw.rstrip().rstrip("\\").replace("**", ""))
        pdf.set_x(pdf.l_margin)
        if line.startswith("# "):
            pdf.set_font("Helvetica", "B", 16)
            pdf.multi_cell(width, 8, line[2:])
            pdf.ln(2)
        elif line.startswith("## "):
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 13)
            pdf.multi_cell(width, 7, line[3:])
        elif not line.strip():
            pdf.ln(2)
        else:
            pdf.set_font("Helvetica", "", 10)
            indent = 4 if line.startswith("  - ") else 0
            pdf.set_x(pdf.l_margin + indent)
            pdf.multi_cell(width - indent, 5, line.strip())
    return bytes(pdf.output())
