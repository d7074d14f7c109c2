"""Each provider's old contact name and email become its primary contact."""

from django.db import migrations


def forward(apps, schema_editor):
    Provider = apps.get_model("providers", "Provider")
    ProviderContact = apps.get_model("providers", "ProviderContact")
    contacts = [
        ProviderContact(provider_id=p.pk, name=p.contact_name or p.contact_email, email=p.contact_email,
                        role="account_manager", is_primary=True)
        for p in Provider.objects.exclude(contact_name="", contact_email="").only(
            "pk", "contact_name", "contact_email").iterator()
    ]
    ProviderContact.objects.bulk_create(contacts, batch_size=1000)


def backward(apps, schema_editor):
    Provider = apps.get_model("providers", "Provider")
    ProviderContact = apps.get_model("providers", "ProviderContact")
    for contact in ProviderContact.objects.filter(is_primary=True).iterator():
        Provider.objects.filter(pk=contact.provider_id).update(contact_name=contact.name,
                                                              contact_email=contact.email)


class Migration(migrations.Migration):
    dependencies = [("providers", "0002_contacts_subcontractor_dates_evidence")]

    operations = [migrations.RunPython(forward, backward)]
