"""Sample posts for ``harken demo``: made up, about the fictional Acme, served from 127.0.0.1."""
