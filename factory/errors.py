"""The one exception type the CLI turns into a one-line error and exit code 1."""


class FactoryError(Exception):
    """A problem with the user's input or environment, explained in one line.

    Messages name the file (when there is one) and the problem, and say what was
    received, for example ``labels/train/a.txt line 3: class id 7 is out of range
    (dataset has 5 classes)``.
    """
