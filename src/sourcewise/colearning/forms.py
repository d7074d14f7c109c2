"""Forms of co-learning: they parse and show errors; the services decide."""

from __future__ import annotations

from django import forms

from sourcewise.colearning.models import DataStudy, Idea, IdeaTest, ResearchSession


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files in one input (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


TEXT = {"widget": forms.Textarea(attrs={"rows": 3}), "required": False}
DATE = forms.DateInput(attrs={"type": "date"})


class ChallengeForm(forms.Form):
    problem = forms.CharField(max_length=300, label="The problem, in the client's words",
                              help_text="For example: reduce the cost of the collections process.")
    outcome = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Measurable outcome",
                              help_text="What number moves, by how much, by when.")
    courage_access = forms.CharField(label="Courage: access to customers the buyer grants", **TEXT)
    courage_consent = forms.CharField(label="Courage: how customers consent", **TEXT)
    courage_limits = forms.CharField(label="Courage: limits", **TEXT)
    budget_shadowing_planned = forms.DecimalField(min_value=0, required=False, label="Budget for shadowing: planned")
    budget_shadowing_spent = forms.DecimalField(min_value=0, required=False, label="Budget for shadowing: spent")
    budget_testing_planned = forms.DecimalField(min_value=0, required=False, label="Budget for testing ideas: planned")
    budget_testing_spent = forms.DecimalField(min_value=0, required=False, label="Budget for testing ideas: spent")
    stories_customers = forms.CharField(label="Stories: the customers'", **TEXT)
    stories_project = forms.CharField(label="Stories: the project's own", **TEXT)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class SessionForm(forms.Form):
    kind = forms.ChoiceField(choices=ResearchSession.Kind.choices)
    held_on = forms.DateField(widget=DATE, label="Date")
    title = forms.CharField(max_length=200)
    buyer_observers = forms.CharField(max_length=300, required=False, label="Observers from the buyer")
    provider_observers = forms.CharField(max_length=300, required=False, label="Observers from the provider")
    consent = forms.BooleanField(required=False, label="The people observed gave their consent")
    consent_note = forms.CharField(max_length=300, required=False, label="How consent was given")
    notes = forms.CharField(**TEXT)
    tags = forms.CharField(max_length=300, required=False, help_text="Comma-separated.")
    attachments = MultipleFileField(required=False, label="Attachments",
                                    help_text="Notes, photos, a consent form: any number of files.")


class ObservationForm(forms.Form):
    persona = forms.CharField(max_length=200, label="Who (role or persona)")
    experience = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="What they experience")
    pain_points = forms.CharField(label="Pain points", **TEXT)
    desired_outcome = forms.CharField(label="Desired outcome", **TEXT)
    quotes = forms.CharField(label="Quotes", **TEXT)
    tags = forms.CharField(max_length=300, required=False, help_text="Comma-separated.")
    session = forms.TypedChoiceField(coerce=int, required=False, empty_value=None,
                                     label="From session")
    attachments = MultipleFileField(required=False, label="Attachments",
                                    help_text="Photos, a recording's transcript: any number of files.")

    def __init__(self, *args, sessions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["session"].choices = [("", "(none)")] + [(s.pk, str(s)) for s in sessions]


class StudyForm(forms.Form):
    name = forms.CharField(max_length=200, label="Study name")
    grain = forms.ChoiceField(choices=DataStudy.Grain.choices, label="Chart by")
    segment_column = forms.CharField(max_length=100, initial="segment", required=False,
                                     label="Segment column")
    metrics = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Your own metrics",
        help_text="One per line, name = formula, e.g. collected_per_call = sum(amount_collected) / count()",
    )


class MetricsForm(forms.Form):
    metrics = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Your own metrics",
        help_text="One per line, name = formula. Aggregates: count, count_distinct, sum, avg, min, max, share.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class UploadForm(forms.Form):
    file = forms.FileField(label="Call records (CSV with a header row)")


class InsightForm(forms.Form):
    statement = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Insight")
    observations = forms.TypedMultipleChoiceField(coerce=int, required=False,
                                                  widget=forms.CheckboxSelectMultiple,
                                                  label="Evidence: observations")
    study_runs = forms.TypedMultipleChoiceField(coerce=int, required=False,
                                                widget=forms.CheckboxSelectMultiple,
                                                label="Evidence: study results")
    evidence_note = forms.CharField(label="Which result (KPI, period, segment)", **TEXT)

    def __init__(self, *args, observations=(), runs=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["observations"].choices = [(o.pk, str(o)) for o in observations]
        self.fields["study_runs"].choices = [(r.pk, str(r)) for r in runs]


class IdeaForm(forms.Form):
    title = forms.CharField(max_length=200)
    insights = forms.TypedMultipleChoiceField(coerce=int, widget=forms.CheckboxSelectMultiple,
                                              label="From insights")
    expected_impact = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Expected impact")
    effort = forms.ChoiceField(choices=Idea.Effort.choices)
    test_proposed = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Test proposed")
    description = forms.CharField(**TEXT)

    def __init__(self, *args, insights=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["insights"].choices = [(i.pk, str(i)) for i in insights]


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("pursued", "Pursue"), ("declined", "Decline"),
                                          ("on_hold", "Put on hold")])
    reason = forms.CharField(label="Why declined", **TEXT)
    revisit_on = forms.DateField(required=False, widget=DATE, label="Revisit on")
    revisit_trigger = forms.CharField(max_length=300, required=False, label="Or revisit when")
    project_owner = forms.CharField(max_length=200, required=False, label="Project owner")
    milestones = forms.CharField(
        label="Milestones", help_text="One per line: YYYY-MM-DD title (the date is optional).", **TEXT)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def clean_milestones(self):
        import datetime as dt

        out = []
        for line in self.cleaned_data["milestones"].splitlines():
            line = line.strip()
            if not line:
                continue
            head, _, rest = line.partition(" ")
            try:
                out.append((rest.strip(), dt.date.fromisoformat(head)))
            except ValueError:
                out.append((line, None))
        return out


class IdeaTestForm(forms.Form):
    hypothesis = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    metric = forms.CharField(max_length=200)
    result = forms.CharField(**TEXT)
    outcome = forms.ChoiceField(choices=IdeaTest.Outcome.choices)


class IdeaTestEditForm(IdeaTestForm):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class AttachmentForm(forms.Form):
    file = forms.FileField(label="File to attach")


class LearningForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="What was learned")
    process = forms.CharField(max_length=100, required=False, help_text="e.g. collections")
    industry = forms.CharField(max_length=100, required=False,
                               help_text="Left empty: the client's industry.")
    tags = forms.CharField(max_length=300, required=False, help_text="Comma-separated.")


class LibrarySearchForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    mode = forms.ChoiceField(choices=[("text", "Words"), ("semantic", "Meaning")], required=False,
                             initial="text", label="Match")
    industry = forms.CharField(required=False)
    process = forms.CharField(required=False)
    tag = forms.CharField(required=False)
