"""factory: a synthetic-defect data factory for visual inspection teams."""

import os

# Offline by design: albumentations checks PyPI for a newer version when it is imported (a
# network call that fails or hangs on an offline machine) unless this is set.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from factory.errors import FactoryError

__all__ = ["FactoryError", "__version__"]
__version__ = "0.1.0"
