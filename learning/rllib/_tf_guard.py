"""Keep RLlib from switching TensorFlow into v1 (graph) mode for the whole process.

RLlib's ``try_import_tf()`` runs when ``ray.rllib`` is imported; if TensorFlow is
installed and not yet imported, it imports it and calls
``tf.compat.v1.disable_v2_behavior()``, after which no Keras 3 model can train in
that process (and eager mode cannot be switched back on).  raymas trains RLlib
policies with PyTorch, so :func:`guard` tells RLlib not to import TensorFlow at
all (RLlib's own ``RLLIB_TEST_NO_TF_IMPORT`` switch, as when TensorFlow is not
installed) and silences the notice RLlib logs each time it honours it.  Nothing
changes when TensorFlow was imported first (RLlib then leaves it as it is) or
when ``RAYMAS_RLLIB_TF=1`` asks for RLlib's TensorFlow stack.

Example:
    >>> import os
    >>> guard()
    >>> "RLLIB_TEST_NO_TF_IMPORT" in os.environ or "tensorflow" in sys.modules \\
    ...     or os.environ.get("RAYMAS_RLLIB_TF") == "1"
    True
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["guard"]

def _drop_notice(record: logging.LogRecord) -> bool:
    """Drop "Not importing TensorFlow [Probability] for test purposes"."""
    message = record.getMessage()
    return not (message.startswith("Not importing TensorFlow") and "test purposes" in message)


def guard() -> None:
    """Set RLlib's no-TensorFlow switch unless TensorFlow is already loaded or wanted."""
    if "tensorflow" in sys.modules or os.environ.get("RAYMAS_RLLIB_TF") == "1":
        return
    os.environ.setdefault("RLLIB_TEST_NO_TF_IMPORT", "1")
    framework_log = logging.getLogger("ray.rllib.utils.framework")
    if _drop_notice not in framework_log.filters:
        framework_log.addFilter(_drop_notice)
