"""`sourcewise systemcheck`: Django's system checks (the name `check` belongs to the engine)."""

from django.core.management.commands.check import Command as DjangoCheck


class Command(DjangoCheck):
    help = "Run Django's system checks for configuration and models."
