"""Errors tinycim raises for bad input: one clear line naming the file, field or range."""

from __future__ import annotations


class TinyCimError(Exception):
    """Base class of tinycim's user-facing errors (the CLI prints them as one line)."""


class ConfigError(TinyCimError, ValueError):
    """An invalid configuration value; the message names the field and the allowed range."""


class DataError(TinyCimError, ValueError):
    """A missing, truncated or malformed dataset file; the message names the file."""


class MappingError(TinyCimError, ValueError):
    """A model that cannot be mapped onto the configured hardware (does not fit, bad weights)."""


class MissingDependencyError(TinyCimError, ImportError):
    """An optional feature was used without its extra installed; the message names the extra."""
