"""Harken's built-in source kinds, registered through the ``harken.sources`` entry points."""
