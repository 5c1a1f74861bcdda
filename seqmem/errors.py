"""One error type for everything a user can get wrong, so the command line can print it in one line."""


class ConfigError(ValueError):
    """A bad parameter or value: the message names the parameter and the fix."""


def brief(message: str, longest: int = 1000) -> str:
    """The message with any run of characters longer than `longest` (a 100 KB value a user pasted; no path a
    file system takes is that long in practice) cut to its first 100 and its length, so the one line stays
    one readable line."""
    words = message.split(" ")
    return " ".join(w if len(w) <= longest else f"{w[:100]}...({len(w)} characters)" for w in words)


class Diverged(FloatingPointError):
    """Training produced a non-finite loss or weights; the run stopped and kept its last finite checkpoint."""

    def __init__(self, message: str, step: int, checkpoint_step: int | None):
        super().__init__(message)
        self.step, self.checkpoint_step = step, checkpoint_step
