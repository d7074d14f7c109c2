"""Forms of monitoring: they parse and show errors; the services decide."""

from __future__ import annotations

from django import forms

from sourcewise.monitoring.models import SCHEMA_TYPES, Feed


def parse_schema(text: str) -> dict[str, str]:
    """`column: type` lines (or comma-separated) as a mapping; ValidationError naming a bad line."""
    schema: dict[str, str] = {}
    for raw in text.replace(",", "\n").splitlines():
        line = raw.strip()
        if not line:
            continue
        if ":" not in line:
            raise forms.ValidationError(f"Write '{line}' as column: type ({', '.join(SCHEMA_TYPES)}).")
        column, kind = (part.strip() for part in line.split(":", 1))
        if not column:
            raise forms.ValidationError(f"'{line}' names no column.")
        schema[column] = kind.lower()
    return schema


def schema_text(schema: dict[str, str]) -> str:
    return "\n".join(f"{c}: {t}" for c, t in schema.items())


class FeedForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.CharField(max_length=60, label="Short name",
                           help_text="Letters, digits, - and _; suites name the feed by it.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    kind = forms.ChoiceField(choices=Feed.Kind.choices, initial=Feed.Kind.DELIVERY)
    expected_schema = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), required=False, label="Expected schema",
        help_text="One column a line, as column: type (" + ", ".join(SCHEMA_TYPES) + ").")
    customer_columns = forms.CharField(
        required=False, label="Customer key columns",
        help_text="Comma-separated columns that identify a customer, e.g. customer_id.")
    cadence = forms.ChoiceField(choices=Feed.Cadence.choices, initial=Feed.Cadence.DAILY)
    due_time = forms.TimeField(initial="06:00", label="Due by", widget=forms.TimeInput(attrs={"type": "time"}))
    due_weekday = forms.TypedChoiceField(
        coerce=int, initial=0, label="Due on (weekly feeds)",
        choices=list(enumerate(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"])))
    time_zone = forms.CharField(initial="UTC", help_text="A zone name, e.g. Asia/Kolkata or America/New_York.")
    buyer_owner = forms.ModelChoiceField(queryset=None, required=False, label="Owner at the buyer")
    provider_owner = forms.ModelChoiceField(queryset=None, required=False, label="Owner at the provider")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, engagement, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from sourcewise.accounts.models import User

        self.fields["buyer_owner"].queryset = User.objects.filter(
            memberships__organization=engagement.buyer).order_by("full_name")
        self.fields["provider_owner"].queryset = User.objects.filter(
            memberships__organization=engagement.provider).order_by("full_name")

    def clean_expected_schema(self) -> dict[str, str]:
        return parse_schema(self.cleaned_data.get("expected_schema") or "")

    def clean_customer_columns(self) -> list[str]:
        text = self.cleaned_data.get("customer_columns") or ""
        return [c.strip() for c in text.split(",") if c.strip()]


class SuiteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false"}), label="Suite (YAML)",
                           strip=False)
    note = forms.CharField(max_length=300, required=False, label="What changed")
    number = forms.IntegerField(widget=forms.HiddenInput, required=False)


class DeliveryForm(forms.Form):
    file = forms.FileField(allow_empty_file=True, help_text="A .parquet, .csv, .csv.gz, .jsonl or .jsonl.gz file.")
    period = forms.DateField(required=False, label="Day it covers",
                             widget=forms.DateInput(attrs={"type": "date"}),
                             help_text="Leave empty for today in the feed's time zone.")


class LocationForm(forms.Form):
    location = forms.CharField(max_length=1000, label="Path inside the storage root, or s3:// URL",
                               help_text="For example inbox/dialwell/contacts-2026-11-20.parquet or "
                                         "s3://dialwell-drop/contacts-2026-11-20.parquet.")
    period = forms.DateField(required=False, label="Day it covers", widget=forms.DateInput(attrs={"type": "date"}),
                             help_text="Leave empty for today in the feed's time zone.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Two forms on one page: their ids must differ.
        self.auto_id = "location_%s"
