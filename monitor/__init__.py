"""Harken: hear what the public says about your brand, and react before it becomes a crisis."""
