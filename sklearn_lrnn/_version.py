"""The package's version, in a module of its own.

``pyproject.toml`` reads it from here (``[tool.setuptools.dynamic]``), and the modules that record or
print it (the file format of ``save``, ``show_config``) import it from here, so that none of them
imports the package itself back up from below.
"""

__version__ = "0.1.0"
