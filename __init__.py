"""Septum: a segmentation policy compiler for clinical networks."""

__version__ = "0.1.0"
