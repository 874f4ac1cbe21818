"""messaging — built by a later issue (see the open issues); nothing public yet."""

__all__: list[str] = []
