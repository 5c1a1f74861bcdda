"""One error type for everything a user can get wrong, so the command line can print it in one line."""


class ConfigError(ValueError):
    """A bad parameter or value: the message names the parameter and the fix."""
