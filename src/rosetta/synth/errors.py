"""The synth engine's setup error: missing fonts, word lists or photographs, or an unknown script."""


class SynthSetupError(RuntimeError):
    """The message names what is missing and how to fix it (usually `make setup`)."""
