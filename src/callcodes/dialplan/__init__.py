"""Dial plans: from the digits a user dialed to a call type, and to a whole ``Call``.

``DialPlan`` classifies dialed digits (extensions, outside-line prefix, emergency numbers and,
with the ``phone`` extra, libphonenumber's number types). ``read_dialed`` is what every softswitch
adapter calls with a dial string: the code entered and the ``Call`` to decide, or the problem
that refuses the dial string, emergency numbers recognised first.
"""

from .intake import Intake, emergency_destination, read_dialed
from .plan import CLASSIFY_CACHE_LIMIT, MAX_DIALED, Classification, DialPlan

__all__ = [
    "CLASSIFY_CACHE_LIMIT",
    "MAX_DIALED",
    "Classification",
    "DialPlan",
    "Intake",
    "emergency_destination",
    "read_dialed",
]
