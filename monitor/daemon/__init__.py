"""The running daemon: wiring, one module per job, scheduler, web endpoint, metrics, logs."""
