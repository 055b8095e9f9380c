"""Dial plans: from the digits a user dialed to a call type, and to a whole ``Call``.

``DialPlan`` classifies dialed digits (extensions, outside-line prefix, emergency numbers and,
with the ``phone`` extra, libphonenumber's number types).
"""

from .plan import CLASSIFY_CACHE_LIMIT, MAX_DIALED, Classification, DialPlan

__all__ = ["CLASSIFY_CACHE_LIMIT", "MAX_DIALED", "Classification", "DialPlan"]
