"""config.toml -> validated, frozen settings, with file:line:col for every mistake."""
