"""Catalyst Forge composition functions."""
