"""Forms of the providers pages: they parse and show errors; the services decide."""

from __future__ import annotations

from django import forms

from sourcewise.providers.models import (
    Assessment,
    ChangeNotice,
    ChangeNoticeResponse,
    Contract,
    Criticality,
    Interaction,
    Provider,
    ProviderContact,
    Question,
    Tier,
)

DATE = forms.DateInput(attrs={"type": "date"})


class ProviderForm(forms.Form):
    legal_name = forms.CharField(max_length=200)
    registration_number = forms.CharField(max_length=60, required=False)
    lei = forms.CharField(label="LEI", max_length=20, required=False,
                          help_text="20 characters (ISO 17442); its check digits are verified.")
    country = forms.CharField(max_length=2, required=False, help_text="Two-letter ISO code, e.g. IE.")
    parent = forms.ModelChoiceField(queryset=Provider.objects.none(), required=False,
                                    help_text="The group it belongs to, if that is in your register.")
    organization_slug = forms.SlugField(
        label="Its Sourcewise organisation", required=False,
        help_text="The provider's short name in Sourcewise, if it has one: its people then answer "
                  "your questionnaires. Leave empty for a candidate without an account.")
    status = forms.ChoiceField(choices=Provider.Status.choices)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, register=None, **kwargs):
        super().__init__(*args, **kwargs)
        if register is not None:
            self.fields["parent"].queryset = register


class ProviderCreateForm(ProviderForm):
    tier = forms.ChoiceField(choices=Tier.choices, initial=Tier.STANDARD)
    tier_reason = forms.CharField(label="Why this tier", required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    contact_name = forms.CharField(max_length=200, required=False, label="Primary contact",
                                   help_text="More contacts can be added on the provider's page.")
    contact_role = forms.ChoiceField(choices=ProviderContact.Role.choices, label="Primary contact's role",
                                     required=False, initial=ProviderContact.Role.ACCOUNT_MANAGER)
    contact_email = forms.EmailField(required=False, label="Primary contact's email")
    contact_phone = forms.CharField(max_length=40, required=False, label="Primary contact's phone")

    def contacts(self) -> list[dict]:
        data = self.cleaned_data
        if not any(data.get(k) for k in ("contact_name", "contact_email", "contact_phone")):
            return []
        return [{"name": data.get("contact_name", ""), "role": data.get("contact_role") or ProviderContact.Role.ACCOUNT_MANAGER,
                 "email": data.get("contact_email", ""), "phone": data.get("contact_phone", ""),
                 "is_primary": True}]


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200)
    role = forms.ChoiceField(choices=ProviderContact.Role.choices)
    email = forms.EmailField(required=False)
    phone = forms.CharField(max_length=40, required=False)
    is_primary = forms.BooleanField(required=False, label="Primary contact",
                                    help_text="Stands for the provider in exports and receives invitation links.")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class TierForm(forms.Form):
    tier = forms.ChoiceField(choices=Tier.choices, label="New tier")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Reason for the change")


class ServiceForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    category = forms.CharField(max_length=100, required=False)
    criticality = forms.ChoiceField(choices=Criticality.choices)
    criticality_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                                         label="Reasons for the criticality")
    data_handled = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    personal_data = forms.BooleanField(required=False, label="Handles personal data")
    service_location = forms.CharField(max_length=200, required=False, label="Where the service runs")
    data_location = forms.CharField(max_length=200, required=False, label="Where the data sits")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class ContractForm(forms.Form):
    reference = forms.CharField(max_length=100)
    start_date = forms.DateField(widget=DATE)
    end_date = forms.DateField(widget=DATE, required=False)
    renewal = forms.ChoiceField(choices=Contract.Renewal.choices)
    buyer_notice_days = forms.IntegerField(min_value=0, required=False, label="Our notice period (days)")
    provider_notice_days = forms.IntegerField(min_value=0, required=False,
                                              label="The provider's notice period (days)")
    annual_cost = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2, required=False)
    currency = forms.CharField(max_length=3, initial="EUR")
    governing_law = forms.CharField(max_length=100, required=False)
    exit_plan = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    substitutability = forms.ChoiceField(choices=Contract.Substitutability.choices)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class SubcontractorForm(forms.Form):
    parent = forms.ModelChoiceField(queryset=None, required=False,
                                    label="Subcontractor of",
                                    empty_label="The provider itself (rank 2)")
    legal_name = forms.CharField(max_length=200)
    registration_number = forms.CharField(max_length=60, required=False)
    lei = forms.CharField(label="LEI", max_length=20, required=False)
    country = forms.CharField(max_length=2, required=False)
    function = forms.CharField(max_length=200, help_text="What it does for the service.")
    service_location = forms.CharField(max_length=200, required=False)
    data_location = forms.CharField(max_length=200, required=False)
    personal_data = forms.BooleanField(required=False, label="Handles personal data")
    start_date = forms.DateField(widget=DATE, required=False, label="Subcontracting since")
    end_date = forms.DateField(widget=DATE, required=False, label="Subcontracting until")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, chain=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = chain


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label="The file holds", initial="providers", required=False,
        choices=[("providers", "Providers (one row each, optionally with a service and its contract)"),
                 ("subcontractors", "Subcontractors (one row each, in a service's chain)")])
    file = forms.FileField(label="CSV file", help_text="UTF-8, with a header row.")


class ScorecardPeriodForm(forms.Form):
    days = forms.TypedChoiceField(label="Period", coerce=int, initial=90,
                                  choices=[(d, f"Last {d} days") for d in (30, 90, 180, 365)])


class AssessmentSendForm(forms.Form):
    template = forms.ModelChoiceField(queryset=None, required=False,
                                      empty_label="The built-in template (service failures)")
    due_date = forms.DateField(widget=DATE)
    selection = forms.ModelChoiceField(queryset=None, required=False, empty_label="None",
                                       label="Compare it in the selection for")
    invite_email = forms.EmailField(required=False, label="Send the link to",
                                    help_text="For a provider without a Sourcewise organisation.")

    def __init__(self, *args, templates=None, selections=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates
        self.fields["selection"].queryset = selections


class ReviewForm(forms.Form):
    score = forms.IntegerField(min_value=0, max_value=100, label="Your score (0-100)")
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class ConcludeForm(forms.Form):
    conclusion = forms.ChoiceField(choices=Assessment.Conclusion.choices, widget=forms.RadioSelect)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                           label="Conditions or reasons")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class ReopenForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Why reopen it")


class SelectionForm(forms.Form):
    service_name = forms.CharField(max_length=200, label="Service to choose a provider for")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ChooseForm(forms.Form):
    assessment = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Why this candidate")


class InteractionForm(forms.Form):
    date = forms.DateField(widget=DATE)
    kind = forms.ChoiceField(choices=Interaction.Kind.choices)
    initiated_by = forms.ChoiceField(choices=[("buyer", "The buyer"), ("provider", "The provider")],
                                     label="Initiated by")
    title = forms.CharField(max_length=200)
    topics = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    follow_up = forms.CharField(max_length=300, required=False, label="Follow-up")
    follow_up_owner = forms.CharField(max_length=200, required=False, label="Follow-up owner")
    follow_up_due = forms.DateField(widget=DATE, required=False, label="Follow-up due")

    def follow_ups(self) -> list[dict]:
        data = self.cleaned_data
        if not data.get("follow_up") and not data.get("follow_up_owner"):
            return []
        return [{"description": data.get("follow_up", ""), "owner": data.get("follow_up_owner", ""),
                 "due_date": data.get("follow_up_due")}]


class ChangeNoticeForm(forms.Form):
    kind = forms.ChoiceField(choices=ChangeNotice.Kind.choices, label="What changes")
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    effective_date = forms.DateField(widget=DATE, label="Date of the change")
    review_by = forms.DateField(widget=DATE, required=False, label="Review by",
                                help_text="A week before the change if left empty.")


class RespondForm(forms.Form):
    kind = forms.ChoiceField(choices=ChangeNoticeResponse.Kind.choices, label="Response")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Text")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        if kinds is not None:
            self.fields["kind"].choices = [(k, ChangeNoticeResponse.Kind(k).label) for k in kinds]


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    first_section = forms.CharField(max_length=200, label="First section's title")


class SectionForm(forms.Form):
    title = forms.CharField(max_length=200, label="Section title")


class QuestionForm(forms.Form):
    section = forms.ModelChoiceField(queryset=None, empty_label=None)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Question")
    kind = forms.ChoiceField(choices=Question.Kind.choices, label="Answer type")
    weight = forms.IntegerField(min_value=0, max_value=100, initial=1)
    options = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, label="Options and scores",
        help_text="One per line, 'label = score' (0-100); for a number, 'from = score' bands, e.g. '24 = 20'.")
    red_flag_when = forms.ChoiceField(
        required=False, label="Red flag when",
        choices=[("", "Never"), ("choice_is", "The answer is one of"), ("number_at_most", "The number is at most"),
                 ("empty", "It is left unanswered")])
    red_flag_values = forms.CharField(required=False, label="Red-flag answers or number",
                                      help_text="Choices separated by ';', or the number.")
    red_flag_explanation = forms.CharField(required=False, label="Why it is a red flag",
                                           widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, sections=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["section"].queryset = sections

    def red_flags(self) -> list[dict]:
        data = self.cleaned_data
        when = data.get("red_flag_when")
        if not when:
            return []
        rule = {"when": when, "explanation": data.get("red_flag_explanation", "").strip()}
        values = data.get("red_flag_values", "")
        if when == "choice_is":
            rule["values"] = [v.strip() for v in values.split(";") if v.strip()]
        elif when == "number_at_most":
            try:
                rule["value"] = float(values)
            except ValueError:
                self.add_error("red_flag_values", "Give the number.")
        return [rule]
