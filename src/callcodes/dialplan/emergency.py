"""Emergency and repair numbers by ISO region: the numbers every dial plan treats as EMERGENCY.

Source. The table has two parts:

* ``_FROM_LIBPHONENUMBER``: every number that libphonenumber's short-number metadata
  (``resources/ShortNumberMetadata.xml``, the ``<emergency>`` element of each region, as shipped
  in the Python port ``phonenumbers`` 9.0.43) marks as an emergency number, one entry per region
  that ``phonenumbers`` supports. It was expanded from each region's pattern and checked number by
  number with ``phonenumbers.shortnumberinfo.is_emergency_number``; ``derive_from_libphonenumber``
  below repeats that derivation (``python -m callcodes.dialplan.emergency`` prints it in this
  layout).
  libphonenumber keeps to the fire, police and ambulance numbers a phone may call without being
  unlocked; its ``<expandedEmergency>`` data is not shipped at run time and is not used here.
* ``ADDITIONS``: numbers that libphonenumber does not mark but that a PBX must never put behind a
  code, each with its reason. They are all North American: 933, the 911 address test line that
  carriers offer so a caller can hear the emergency address a 911 call would send; 988, the
  Suicide and Crisis Lifeline (US since July 2022, Canada since November 2023); 611, telephone
  repair service (an N11 service code in the North American Numbering Plan; the CNAC lists it for
  Canada, and it is the "repair" half of BroadWorks' emergency and repair call types).

Regions that ``phonenumbers`` knows but for which libphonenumber lists no emergency number (GN, GQ,
IO, TA, TK) have an empty entry: a dial plan for them must name its emergency numbers.

Pure data and lookups; ``phonenumbers`` is imported only by ``derive_from_libphonenumber``.
"""

from __future__ import annotations

import itertools
import re
import sys
import types
from collections.abc import Mapping
from typing import Final

__all__ = [
    "ADDITIONS",
    "EMERGENCY_NUMBERS",
    "LIBPHONENUMBER_VERSION",
    "REGIONS",
    "derive_from_libphonenumber",
    "emergency_numbers",
]

#: The ``phonenumbers`` release whose short-number metadata ``_FROM_LIBPHONENUMBER`` copies.
LIBPHONENUMBER_VERSION: Final = "9.0.43"

# Region -> its emergency numbers, space separated (see the module header for the source).
_FROM_LIBPHONENUMBER: Final[dict[str, str]] = {
    "AC": "911 999",
    "AD": "110 112 116 118",
    "AE": "112 997 998 999",
    "AF": "100 102 119",
    "AG": "911 999",
    "AI": "911",
    "AL": "112 127 128 129",
    "AM": "101 102 103",
    "AO": "112 113 115",
    "AR": "100 101 107 911",
    "AS": "911",
    "AT": "112 122 133 144",
    "AU": "000 106 112",
    "AW": "100 911",
    "AX": "112",
    "AZ": "101 102 103 112",
    "BA": "122 123 124",
    "BB": "211 311 511 911",
    "BD": "100 101 102 199 999",
    "BE": "100 101 112",
    "BF": "17 18",
    "BG": "112 150 160 166",
    "BH": "199 999",
    "BI": "112 113 117",
    "BJ": "112 114 116 117 118",
    "BL": "18",
    "BM": "911",
    "BN": "991 993 995",
    "BO": "110 118 119",
    "BQ": "112 911",
    "BR": "112 128 190 192 193 911",
    "BS": "911 919",
    "BT": "110 112 113",
    "BW": "111 112 911 997 998 999",
    "BY": "101 102 103 112",
    "BZ": "90 911 990",
    "CA": "112 911",
    "CC": "000 112",
    "CD": "113 114 118 177 188",
    "CF": "117 118 1220",
    "CG": "117 118",
    "CH": "112 117 118 144",
    "CI": "110 111 170 180",
    "CK": "996 998 999",
    "CL": "131 132 133 911",
    "CM": "13 17 113 117",
    "CN": "110 119 120",
    "CO": "112 119 123 132 156",
    "CR": "112 911",
    "CU": "104 105 106",
    "CV": "130 131 132",
    "CW": "112 911",
    "CX": "000 112",
    "CY": "112 199",
    "CZ": "112 150 151 152 153 154 155 156 157 158 159",
    "DE": "110 112",
    "DJ": "17 18",
    "DK": "112 114",
    "DM": "333 911 999",
    "DO": "112 911",
    "DZ": "14 17 112",
    "EC": "101 102 112 911",
    "EE": "110 112",
    "EG": "122 123 180",
    "EH": "15 19 177",
    "ER": "112 113 114 116 124422 127799 201606 201917 202099 202914",
    "ES": "085 088 112",
    "ET": "91 92 93 911 939 991 997",
    "FI": "112",
    "FJ": "911 917",
    "FK": "999",
    "FM": "911 320221",
    "FO": "112 114",
    "FR": "15 17 18 112",
    "GA": (
        "18 1300 1301 1302 1303 1304 1305 1306 1307 1308 1309 1310 1311 1312 1313 1314 "
        "1315 1316 1317 1318 1319 1320 1321 1322 1323 1324 1325 1326 1327 1328 1329 1330 "
        "1331 1332 1333 1334 1335 1336 1337 1338 1339 1340 1341 1342 1343 1344 1345 1346 "
        "1347 1348 1349 1350 1351 1352 1353 1354 1355 1356 1357 1358 1359 1360 1361 1362 "
        "1363 1364 1365 1366 1367 1368 1369 1370 1371 1372 1373 1374 1375 1376 1377 1378 "
        "1379 1380 1381 1382 1383 1384 1385 1386 1387 1388 1389 1390 1391 1392 1393 1394 "
        "1395 1396 1397 1398 1399 1730"
    ),
    "GB": "112 999",
    "GD": "911",
    "GE": "011 022 033 111 112 113 122",
    "GF": "15 17 18",
    "GG": "112 999",
    "GH": "191 192 193 999",
    "GI": "112 190 199",
    "GL": "112",
    "GM": "16 17 18 116 117 118",
    "GN": "",
    "GP": "15 17 18",
    "GQ": "",
    "GR": "100 112 166 199",
    "GT": "110 120 123",
    "GU": "911",
    "GW": "113 117 118",
    "GY": "911 912 913",
    "HK": "112 992 999",
    "HN": "199",
    "HR": "93 94 112 192 193 194",
    "HT": "114 118",
    "HU": "104 105 107 112",
    "ID": "110 112 113 118 119",
    "IE": "112 999",
    "IL": "100 101 102 112",
    "IM": "999",
    "IN": "100 101 102 108 112 1298 2611",
    "IO": "",
    "IQ": "100 104 115 122",
    "IR": "110 112 115 125 911",
    "IS": "112",
    "IT": "112 113 115 118",
    "JE": "112 999",
    "JM": "110 112 119 911",
    "JO": "112 191 192 197 911",
    "JP": "110 119",
    "KE": "112 114 999",
    "KG": "101 102 103",
    "KH": "117 118 119 666",
    "KI": "192 193 194 195 992 993 994",
    "KM": "17 18",
    "KN": "333 911 999",
    "KP": "112 119 819",
    "KR": "112 119",
    "KW": "112",
    "KY": "911",
    "KZ": "101 102 103 112",
    "LA": "190 191 195",
    "LB": "112 140 175 999",
    "LC": "911 999",
    "LI": "112 117 118 144",
    "LK": "110 112 116 118 119",
    "LR": "355 911",
    "LS": "112 115 117",
    "LT": "01 02 03 011 022 033 101 102 103 112",
    "LU": "112 113",
    "LV": "01 02 03 110 112 113",
    "LY": "190 191 193",
    "MA": "15 19 177",
    "MC": "15 17 18 112",
    "MD": "112 901 902 903",
    "ME": "112 122 123 124",
    "MF": "15 17 18",
    "MG": "17 18 117 118",
    "MH": "911",
    "MK": "112 192 193 194",
    "ML": "15 17 18",
    "MM": "199",
    "MN": "100 101 102 103 105",
    "MO": "999",
    "MP": "911",
    "MQ": "15 17 18 112",
    "MR": "17 18",
    "MS": "911 999",
    "MT": "112",
    "MU": "114 115 995 999",
    "MV": "102 118 119",
    "MW": "199 997 998 999",
    "MX": "060 065 066 068 080 911",
    "MY": "112 999",
    "MZ": "117 119 197 198",
    "NA": "10111",
    "NC": "15 16 17 18",
    "NE": "15 17 18 118 723141",
    "NF": "911 955 977",
    "NG": "199",
    "NI": "115 118 120 128",
    "NL": "112 911",
    "NO": "110 112 113",
    "NP": "100 101 102 103 112",
    "NR": "110 111 112",
    "NU": "999",
    "NZ": "111",
    "OM": "1444 9999",
    "PA": "911",
    "PE": "105 116 117",
    "PF": "15 17 18",
    "PG": "000 110 111",
    "PH": "112 117 911",
    "PK": "15 16 112 115 1122",
    "PL": "112 997 998 999",
    "PM": "15 17 18",
    "PR": "911",
    "PS": "100 101 102",
    "PT": "112 115",
    "PW": "911",
    "PY": "128 911",
    "QA": "999",
    "RE": "15 17 18 112",
    "RO": "112",
    "RS": "92 93 94 112",
    "RU": "01 02 03 101 102 103 112",
    "RW": "111 112",
    "SA": "112 911 997 999",
    "SB": "999",
    "SC": "999",
    "SD": "999",
    "SE": "112 90000",
    "SG": "993 995 999",
    "SH": "911 999",
    "SI": "112 113",
    "SJ": "110 112 113",
    "SK": "112 150 155 158",
    "SL": "019 999",
    "SM": "113 115 118",
    "SN": "17 18",
    "SO": "555 888 999",
    "SR": "115",
    "SS": "999",
    "ST": "112",
    "SV": "911 913",
    "SX": "919",
    "SY": "110 112 113",
    "SZ": "999",
    "TA": "",
    "TC": "911 999",
    "TD": "17 18",
    "TG": "117 118 171 172 177",
    "TH": "191 199 1669",
    "TJ": "101 102 103 112",
    "TK": "",
    "TL": "112 115",
    "TM": "01 02 03",
    "TN": "190 197 198",
    "TO": "911 922 933 999",
    "TR": "110 112 155",
    "TT": "990 999",
    "TV": "911",
    "TW": "110 112 119",
    "TZ": "110 111 112 114 115 999",
    "UA": "101 102 103 112",
    "UG": "999",
    "US": "112 911",
    "UY": "128 911",
    "UZ": "01 02 03 001 002 003 050",
    "VA": "112 113 115 118",
    "VC": "911 999",
    "VE": "112 171 911",
    "VG": "911 999",
    "VI": "911",
    "VN": "113 114 115",
    "VU": "112",
    "WF": "15 17 18",
    "WS": "911 994 995 996 999",
    "XK": "112 192 193 194",
    "YE": "191 194 195 199",
    "YT": "15 112",
    "ZA": "112 10111 10177",
    "ZM": "112 991 993 999",
    "ZW": "112 993 994 995 999",
}

_NANP_TEST_LINE: Final = "911 address test line (reads back the address a 911 call would send)"
_NANP_CRISIS: Final = "988 Suicide and Crisis Lifeline"
_NANP_REPAIR: Final = "telephone repair service (N11 code)"

#: Numbers added to libphonenumber's, by region, each with the reason it is there.
ADDITIONS: Final[Mapping[str, Mapping[str, str]]] = types.MappingProxyType(
    {
        "US": types.MappingProxyType(
            {"933": _NANP_TEST_LINE, "988": _NANP_CRISIS, "611": _NANP_REPAIR}
        ),
        "CA": types.MappingProxyType(
            {"933": _NANP_TEST_LINE, "988": _NANP_CRISIS, "611": _NANP_REPAIR}
        ),
    }
)


def _build() -> Mapping[str, frozenset[str]]:
    table = {region: frozenset(numbers.split()) for region, numbers in _FROM_LIBPHONENUMBER.items()}
    for region, extra in ADDITIONS.items():
        table[region] = table[region] | frozenset(extra)
    return types.MappingProxyType(table)


#: ISO 3166 region -> the emergency and repair numbers dialed there (both parts of the table).
EMERGENCY_NUMBERS: Final = _build()

#: Every region a dial plan may name: the ISO 3166 alpha-2 regions that ``phonenumbers`` knows.
REGIONS: Final = frozenset(EMERGENCY_NUMBERS)


def emergency_numbers(region: str) -> frozenset[str]:
    """The emergency and repair numbers of an ISO 3166 alpha-2 *region* (empty when unknown).

    Runtime complexity: O(1).
    """
    return EMERGENCY_NUMBERS.get(region, frozenset())


def derive_from_libphonenumber() -> dict[str, tuple[str, ...]]:
    """Expand libphonenumber's emergency patterns into numbers, for every region it supports.

    This is how ``_FROM_LIBPHONENUMBER`` was built; it needs ``phonenumbers`` and takes about a
    second (it tries every digit string of each pattern's possible lengths).
    """
    import phonenumbers  # noqa: PLC0415  # optional dependency, needed only to regenerate
    from phonenumbers.shortnumberinfo import is_emergency_number  # noqa: PLC0415

    derived: dict[str, tuple[str, ...]] = {}
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        metadata = phonenumbers.PhoneMetadata.short_metadata_for_region(region)
        desc = None if metadata is None else metadata.emergency
        found: list[str] = []
        if desc is not None and desc.national_number_pattern:
            pattern = re.compile(desc.national_number_pattern)
            for length in desc.possible_length:
                for digits in itertools.product("0123456789", repeat=length):
                    number = "".join(digits)
                    if pattern.fullmatch(number) and is_emergency_number(number, region):
                        found.append(number)
        derived[region] = tuple(sorted(found, key=lambda n: (len(n), n)))
    return derived


def _render(derived: Mapping[str, tuple[str, ...]]) -> str:
    lines = []
    for region, numbers in derived.items():
        line = f'    "{region}": "{" ".join(numbers)}",'
        if len(line) <= 100:
            lines.append(line)
            continue
        chunks = [" ".join(numbers[i : i + 16]) for i in range(0, len(numbers), 16)]
        body = [f'        "{chunk} "' for chunk in chunks[:-1]] + [f'        "{chunks[-1]}"']
        lines.extend([f'    "{region}": (', *body, "    ),"])
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(_render(derive_from_libphonenumber()))
