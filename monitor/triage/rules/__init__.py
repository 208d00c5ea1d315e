"""Rules comms edit: the model, the TOML files it is read from, phrase matching."""
