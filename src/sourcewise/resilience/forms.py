"""Forms of resilience pages: they parse and label; the services decide."""

from __future__ import annotations

from django import forms

from sourcewise.accounts.models import User
from sourcewise.resilience.models import Cause, Exercise, Incident

DATE = forms.DateInput(attrs={"type": "date"})


def _text_area(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


def engagement_people(engagement, side: str | None = None):
    orgs = [engagement.buyer_id, engagement.provider_id] if side is None else (
        [engagement.buyer_id] if side == "buyer" else [engagement.provider_id])
    return User.objects.filter(memberships__organization__in=orgs).distinct().order_by("email")


class PlanForm(forms.Form):
    service = forms.CharField(max_length=200, help_text="The important business service, e.g. outbound marketing calls.")
    description = forms.CharField(widget=_text_area(), required=False)
    max_disruption_hours = forms.IntegerField(min_value=1, label="Longest tolerable disruption (hours)")
    max_customers_affected = forms.IntegerField(min_value=1, label="Most customers who may be affected")
    acknowledge_within_hours = forms.IntegerField(min_value=1, initial=1, label="Acknowledge within (hours)")
    solution_within_hours = forms.IntegerField(min_value=1, initial=24, label="Agree a solution within (hours)")
    customer_template = forms.CharField(
        widget=_text_area(), required=False, label="Message to affected customers",
        help_text="{service}, {count}, {summary}, {buyer} and {provider} are filled in.")
    executive_template = forms.CharField(widget=_text_area(), required=False,
                                         label="Message to the buyer's executives")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class PlanNewForm(PlanForm):
    engagement = forms.ModelChoiceField(queryset=None)

    field_order = ["engagement"]

    def __init__(self, *args, engagements, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engagement"].queryset = engagements


class ScenarioForm(forms.Form):
    title = forms.CharField(max_length=200, label="Failure scenario",
                            help_text="For example: the targeting data integration fails.")
    description = forms.CharField(widget=_text_area(2), required=False)
    detected_by_feeds = forms.CharField(label="Detected on feeds", help_text="Feed names, one per line or comma-separated.")
    detected_by_checks = forms.CharField(label="Detected by checks", help_text="Check names, one per line or comma-separated.")
    response_steps = forms.CharField(widget=_text_area(4), help_text="One step per line.")
    buyer_owner = forms.ModelChoiceField(queryset=User.objects.none(), label="Owner at the buyer")
    provider_owner = forms.ModelChoiceField(queryset=User.objects.none(), label="Owner at the provider")

    def __init__(self, *args, engagement, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["buyer_owner"].queryset = engagement_people(engagement, "buyer")
        self.fields["provider_owner"].queryset = engagement_people(engagement, "provider")


class ScenarioEditForm(ScenarioForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class ExerciseEditForm(forms.Form):
    held_on = forms.DateField(widget=DATE, label="Held on")
    result = forms.ChoiceField(choices=Exercise.Result.choices)
    notes = forms.CharField(widget=_text_area(3), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)


class ExerciseForm(forms.Form):
    held_on = forms.DateField(widget=DATE, label="Held on")
    result = forms.ChoiceField(choices=Exercise.Result.choices)
    notes = forms.CharField(widget=_text_area(2), required=False)
    gap = forms.CharField(required=False, label="Gap found (becomes an action)")
    gap_owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label="Gap's owner")
    gap_due_on = forms.DateField(widget=DATE, required=False, label="Gap's due date")

    def __init__(self, *args, engagement, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["gap_owner"].queryset = engagement_people(engagement)


class IncidentForm(forms.Form):
    engagement = forms.ModelChoiceField(queryset=None)
    title = forms.CharField(max_length=200, help_text="In a line, what went wrong.")
    description = forms.CharField(widget=_text_area(), required=False)
    affected_customers = forms.CharField(widget=_text_area(2), required=False,
                                         help_text="Customer ids, one per line or comma-separated.")
    scenario = forms.ModelChoiceField(queryset=None, required=False, label="Failure scenario (if it is one)",
                                      help_text="Links the incident to the plan and to past incidents of the scenario.")

    def __init__(self, *args, engagements, scenarios, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engagement"].queryset = engagements
        self.fields["scenario"].queryset = scenarios
        self.fields["scenario"].label_from_instance = lambda s: f"{s.plan.engagement.name}: {s.title}"


class IncidentEditForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=_text_area(4), required=False)
    lessons = forms.CharField(widget=_text_area(3), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)


class AcknowledgeForm(forms.Form):
    statement = forms.CharField(widget=_text_area(3), label="Ownership and apology statement")
    caused_by = forms.ChoiceField(choices=[c for c in Incident.Party.choices if c[0]], label="Who caused it")
    caused_by_detail = forms.CharField(required=False, label="Subcontractor's name (if one caused it)")
    version = forms.IntegerField(widget=forms.HiddenInput)


class CauseForm(forms.Form):
    kind = forms.ChoiceField(choices=Cause.Kind.choices)
    category = forms.ChoiceField(choices=Cause.Category.choices)
    mechanism = forms.CharField(widget=_text_area(3), label="Mechanism: how exactly it went wrong")


class OptionForm(forms.Form):
    title = forms.CharField(max_length=200, label="Option name")
    description = forms.CharField(widget=_text_area(2), required=False, label="What the option does")
    cost = forms.CharField(max_length=200)
    time = forms.CharField(max_length=200, label="Time to put in place")
    risk = forms.CharField(max_length=200)
    tradeoffs = forms.CharField(widget=_text_area(2), label="Trade-offs")


class ControlForm(forms.Form):
    description = forms.CharField(widget=_text_area(2), label="What the control does")
    owner = forms.ModelChoiceField(queryset=User.objects.none())
    due_on = forms.DateField(widget=DATE, label="Due on")
    kind = forms.ChoiceField(choices=[("process", "Process or people change"), ("new_check", "New check on a feed")])
    feed = forms.ModelChoiceField(queryset=None, required=False, label="Feed (for a new check)",
                                  empty_label="Choose the feed whose suite gets the check",
                                  help_text="One of the engagement's monitoring feeds.")
    check = forms.CharField(widget=_text_area(4), required=False, label="Check (YAML, in the suite format)",
                            help_text="For example: {id: in_segment, dataset: contacts, relationships: "
                                      "{to: targets, columns: [campaign_id, customer_id]}}")

    def __init__(self, *args, engagement, feeds, **kwargs):
        """`feeds`: the engagement's feeds as monitoring's scoped selector gives them to the user."""
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = engagement_people(engagement)
        self.fields["feed"].queryset = feeds.filter(engagement=engagement).order_by("name")
        self.fields["feed"].label_from_instance = lambda f: f"{f.name} ({f.slug})"
        self.fields["feed"].error_messages["invalid_choice"] = (
            "Choose one of this engagement's feeds; that one is not among them.")
