"""The ``jts-broker`` command."""
