"""Zhongtai (中台): an open-source retail middle platform."""

__version__ = "0.1.0"
