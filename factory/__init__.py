"""factory: a synthetic-defect data factory for visual inspection teams."""

from factory.errors import FactoryError

__all__ = ["FactoryError", "__version__"]
__version__ = "0.1.0"
