"""SoFiA-2's source-finding pipeline re-implemented in Python.

Stages live in their own modules (``noise``, ``smooth_clip``, ``threshold``,
``noise_scaling``, ``flagging``, ``contsub``, ``linker``, ``reliability``,
``dilation``, ``parameterise``); `ClassicalFinder` runs them in SoFiA-2's order.
"""

from .finder import ClassicalFinder

__all__ = ["ClassicalFinder"]
