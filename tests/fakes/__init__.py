"""Fakes at the seams: real servers on loopback standing in for outside services."""
