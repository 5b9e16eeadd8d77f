"""The single source of tinycim's version: pyproject.toml reads it (``[tool.setuptools.dynamic]``),
``tinycim.__version__`` re-exports it and the installed metadata carries it."""

__version__ = "0.2.0"
