"""Forms for engagements: they parse and show errors; the services decide."""

from __future__ import annotations

from django import forms

from sourcewise.accounts.models import Organization


class EngagementForm(forms.Form):
    name = forms.CharField(max_length=200)
    services = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False,
        help_text="The processes the provider runs, e.g. outbound marketing calls.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    start_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class EngagementProposeForm(EngagementForm):
    our_side = forms.ChoiceField(
        choices=[("buyer", "We buy the service"), ("provider", "We provide the service")],
        widget=forms.RadioSelect, initial="buyer", label="Your organisation's side",
    )
    counterpart = forms.SlugField(
        label="The other organisation's short name",
        help_text="Ask them for it: it is shown on their Organisation page.",
    )

    field_order = ["our_side", "counterpart", "name", "services", "description", "start_date", "end_date"]

    def clean_counterpart(self) -> Organization:
        slug = self.cleaned_data["counterpart"]
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise forms.ValidationError(f"No organisation has the short name '{slug}'.")
        return org
