"""The story of a challenge: from the problem to research, insights, decisions and outcomes.

One structure feeds the page, the print view and the Markdown report, so the three
always tell the same story.
"""

from __future__ import annotations

from typing import Any

from sourcewise.colearning.models import Challenge
from sourcewise.colearning.selectors import challenge_detail
from sourcewise.engine.metrics import COLLECTIONS_METRICS


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def kpi_summary(run) -> list[dict[str, Any]]:
    """First and last period of each metric, overall: what moved during the study."""
    if run is None or not run.results:
        return []
    rows = [r for r in run.results.get("rows", []) if r.get("segment") is None]
    if not rows:
        return []
    first, last = rows[0], rows[-1]
    out = []
    for name in run.results.get("metrics", []):
        is_rate = name.endswith("_rate")
        fmt = _pct if is_rate else (lambda v: "n/a" if v is None else f"{v:,.2f}")
        out.append({"name": name, "label": name.replace("_", " ").capitalize(),
                    "first": fmt(first.get(name)), "last": fmt(last.get(name)),
                    "first_period": first["period"], "last_period": last["period"],
                    "builtin": name in COLLECTIONS_METRICS})
    return out


def build(challenge: Challenge) -> dict[str, Any]:
    detail = challenge_detail(challenge)
    ideas = list(detail["ideas"])
    return {
        "challenge": challenge,
        "engagement": challenge.engagement,
        **detail,
        "studies": [(s, kpi_summary(s.current_run)) for s in detail["studies"]],
        "pursued": [i for i in ideas if i.status == "pursued"],
        "declined": [i for i in ideas if i.status == "declined"],
        "on_hold": [i for i in ideas if i.status == "on_hold"],
        "awaiting": [i for i in ideas if i.status == "proposed"],
    }


def _line(text: str) -> str:
    return " ".join((text or "").split())


def _sentence(text: str) -> str:
    """The text on one line, ending in one full stop."""
    line = _line(text)
    return line if line.endswith((".", "!", "?")) else line + "."


def _files(owner: Any) -> str:
    """` Files: a.txt (12 bytes), b.pdf (1.2 MB).` for a session or observation with attachments."""
    from django.template.defaultfilters import filesizeformat

    names = [f"{_line(a.name)} ({filesizeformat(a.size_bytes)})".replace("\xa0", " ") for a in owner.attachments.all()]
    return f" Files: {', '.join(names)}." if names else ""


def markdown(story: dict[str, Any]) -> str:
    """The story as a Markdown report."""
    c: Challenge = story["challenge"]
    e = story["engagement"]
    out = [f"# {c.problem}", "",
           f"*{e.name}: {e.buyer.name} (client) and {e.provider.name} (provider).*", "",
           "## The challenge", "", f"**Measurable outcome:** {_line(c.outcome)}", "",
           "### Power-ups", "",
           f"- **Courage:** {_line(c.courage_access) or 'not recorded'}"
           + (f" Consent: {_line(c.courage_consent)}." if c.courage_consent else "")
           + (f" Limits: {_line(c.courage_limits)}." if c.courage_limits else ""),
           f"- **Budget:** shadowing {c.budget_shadowing_spent:,} spent of {c.budget_shadowing_planned:,}; "
           f"testing ideas {c.budget_testing_spent:,} spent of {c.budget_testing_planned:,}.",
           f"- **Stories:** {_line(c.stories_customers) or 'none yet'}"
           + (f" The project's: {_line(c.stories_project)}" if c.stories_project else ""), ""]
    out += ["## Research", ""]
    for s in story["sessions"]:
        out.append(f"- {s.held_on}: **{s.get_kind_display()}**, {s.title} (observed by "
                   f"{s.buyer_observers or 'nobody'} for the client, {s.provider_observers or 'nobody'} "
                   f"for the provider; consent: {s.consent_note or 'given'})." + _files(s))
    if not story["sessions"]:
        out.append("- No session recorded.")
    out += ["", "### Who is in the process", ""]
    for o in story["observations"]:
        line = f"- **{o.persona}** ({o.author_side}): {_line(o.experience)}"
        if o.pain_points:
            line += f" Pain points: {_sentence(o.pain_points)}"
        if o.quotes:
            line += f" “{_line(o.quotes)}”"
        out.append(line + _files(o))
    out += ["", "## Data studies", ""]
    for study, summary in story["studies"]:
        run = study.current_run
        out.append(f"### {study.name}")
        if run is None:
            out += ["", "No results yet.", ""]
            continue
        out += ["", f"{run.row_count:,} records from {run.file_name}, by {study.grain}.", "",
                "| KPI | " + (summary[0]["first_period"] if summary else "") + " | "
                + (summary[0]["last_period"] if summary else "") + " |", "|---|---|---|"]
        out += [f"| {k['label']} | {k['first']} | {k['last']} |" for k in summary]
        out.append("")
    out += ["## Insights", ""]
    for i in story["insights"]:
        evidence = [o.persona for o in i.observations.all()] + [str(r.study) for r in i.study_runs.all()]
        out.append(f"- {_line(i.statement)} *(evidence: {', '.join(evidence) or 'none'}"
                   + (f"; {_line(i.evidence_note)}" if i.evidence_note else "") + ")*")
    out += ["", "## Decisions", ""]
    for label, key in (("Pursued", "pursued"), ("Declined", "declined"), ("On hold", "on_hold"),
                       ("Awaiting the client", "awaiting")):
        for idea in story[key]:
            line = f"- **{label}: {idea.title}.** Expected impact: {_line(idea.expected_impact)}"
            if key == "pursued":
                line += f" Owner: {idea.project_owner}."
                milestones = "; ".join(f"{m.title} ({m.due_on or 'no date'}{', done' if m.done else ''})"
                                       for m in idea.milestones.all())
                if milestones:
                    line += f" Milestones: {milestones}."
            elif key == "declined":
                line += f" Reason: {_line(idea.decline_reason)}"
            elif key == "on_hold":
                line += f" Revisit {idea.revisit_on or ''} {idea.revisit_trigger}".rstrip() + "."
            out.append(line)
            for t in idea.tests.all():
                out.append(f"  - Test: {_line(t.hypothesis)} Metric: {t.metric}. "
                           f"Result: {_line(t.result) or 'running'} ({t.get_outcome_display().lower()}).")
    out += ["", "## Outcomes and learnings", ""]
    for learning in story["learnings"]:
        shared = " (shared to the provider's library)" if hasattr(learning, "shared_copy") else ""
        out.append(f"- **{learning.title}**{shared}: {_line(learning.body)}")
    if not story["learnings"]:
        out.append("- No learning recorded yet.")
    return "\n".join(out) + "\n"
