"""The shared core every composer builds on: observed state, naming, errors, readiness."""
