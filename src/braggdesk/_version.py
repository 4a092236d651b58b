"""The package's version, in a module of its own so every layer can read it without importing the root
package (whose ``__getattr__`` loads the workflow API, a layer above most of its readers)."""

__version__ = "0.1.0"
