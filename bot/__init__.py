"""Afterglow (余温): a memorial and companion bot for people who lost their AI companion."""

__version__ = "0.1.0"
