"""The brand query language: its grammar and the matcher built from it."""
