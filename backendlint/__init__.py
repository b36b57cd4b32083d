"""backendlint: a linter for the bugs Python web backends only show in production."""

__version__ = "0.1.0"
