"""The e-mail providers most people in the UK use, as a prior for reading an address.

A handwritten address's domain is where the recogniser slips most (``hotmal.co.uk``,
``gmail.gom``, an @ read as an E), and it is also the part that is rarely new: most
people write one of a dozen providers' domains. Readings that end close to one of them
are proposed with that domain; the recogniser's frames still weigh every proposal
(``voting.weigh_readings``), so a domain not on this list is read as written.
"""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein

COMMON_DOMAINS = (
    "gmail.com", "googlemail.com", "hotmail.co.uk", "hotmail.com", "outlook.com",
    "live.co.uk", "yahoo.co.uk", "yahoo.com", "icloud.com", "me.com", "btinternet.com",
    "sky.com", "aol.com", "virginmedia.com", "talktalk.net", "msn.com",
)  # fmt: skip

# How many characters a read domain may be from a provider's and still be proposed as it.
_WITHIN = 2


def has_common_domain(text: str) -> bool:
    """Whether an address (as read) ends in a common provider's domain."""
    _, at, domain = text.rpartition("@")
    return bool(at) and domain.lower() in COMMON_DOMAINS


def domain_proposals(text: str) -> list[str]:
    """Readings of ``text`` with its domain put right: the part after its @, or, where no
    @ was read, a tail that is within ``_WITHIN`` of @ and a provider's domain (the @
    read as a letter), replaced by that provider's domain, in the reading's case."""
    proposals: list[str] = []
    local, at, read = text.rpartition("@")
    for domain in COMMON_DOMAINS:
        written = domain.upper() if _upper(read if at else text) else domain
        if at and local and 0 < Levenshtein.distance(read.lower(), domain) <= _WITHIN:
            proposals.append(f"{local}@{written}")
        if at:
            continue
        for length in range(len(domain) - 1, len(domain) + 4):
            head, tail = text[:-length], text[-length:]
            if head and Levenshtein.distance(tail.lower(), "@" + domain) <= _WITHIN:
                proposals.append(f"{head}@{written}")
    return proposals


def _upper(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) * 2 > len(letters)
