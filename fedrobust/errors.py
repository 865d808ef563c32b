"""User-facing errors: the CLI prints them as one line and exits with status 2."""


class FedrobustError(Exception):
    """Bad input the user can fix: the message names the file, field or option and the fix."""


class DataError(FedrobustError):
    """Malformed, inconsistent or unavailable data."""


class ConfigError(FedrobustError):
    """An impossible or unknown option or config value."""


class ResourceUnavailableError(FedrobustError):
    """An offline resource (weights, corpus, hub dataset) is missing and cannot be fetched."""
