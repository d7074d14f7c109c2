"""Signals other apps listen to (resilience links findings to its incidents)."""

from django.dispatch import Signal

# Sent on transaction commit after findings are stored: by a finished check run
# (`run` is the CheckRun, `findings` the list of its Finding rows, possibly empty), and by
# the late-delivery scan (`run` is None, `findings` the late-delivery findings it raised).
# sender is the Finding class.
findings_recorded = Signal()
