"""The backend sandbox: run a small backend, flip its switches, and measure what changes."""

__version__ = "0.1.0"

__all__ = ["__version__"]
