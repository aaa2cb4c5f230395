"""Test helpers: build requests, play the providers, check for leaks."""
