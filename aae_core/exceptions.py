"""Errors raised for bad user input. All are ``ValueError`` subclasses so callers can catch broadly.

Each message says what was wrong and what to do about it.
"""


class AAELabError(ValueError):
    """Base class of every error aae-lab raises for user input."""


class DataError(AAELabError):
    """A data file is missing, empty, too large, of an unknown format, or lacks the named column."""


class TokenizerError(AAELabError):
    """A tokenizer was used before ``fit`` or met tokens it cannot encode."""


class CheckpointError(AAELabError):
    """A checkpoint file is missing, truncated, corrupt, or not an aae-lab checkpoint."""


class ConfigError(AAELabError):
    """A configuration has an unknown key or a value outside its allowed range."""


class TrainingError(AAELabError):
    """Training cannot go on, e.g. a loss became NaN or infinite."""


class OutputError(AAELabError):
    """An output cannot be written: its folder is missing or read-only, it names a folder, or the disk is full."""
