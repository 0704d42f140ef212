"""Optional dependencies: one message that says how to install an extra, for both ways people install."""


def install_hint(extra: str) -> str:
    """The install command for ``extra``, for an installed package and for a clone of the repository."""
    return f"pip install 'faceblur[{extra}]' (in a clone of the repository: pip install -e '.[{extra}]')"
