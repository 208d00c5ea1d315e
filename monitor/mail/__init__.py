"""SMTP delivery and the jinja2 templates emails are rendered from."""
