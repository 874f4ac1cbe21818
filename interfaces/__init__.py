"""interfaces — built by a later issue (see the open issues); nothing public yet."""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__: list[str] = []
