"""robots.txt rules (RFC 9309) for a user agent: the only place ``protego`` is used.

Protego passes 13 of 14 RFC 9309 cases where the standard library's ``urllib.robotparser`` passes 9
(no longest match, no wildcards, no merged groups). Two things are done here on top of it:

- the text is decoded with ``utf-8-sig`` by the caller, since no parser skips a byte-order mark;
- a product token is matched to a group exactly (case-insensitively), as RFC 9309 section 2.2.1
  says. Protego also matches a group name found inside a longer agent string at a word start, so on
  its own ``Applebot-Extended`` would obey an ``Applebot`` group; a token without a group of its
  own obeys the ``*`` group instead.

Spawning's ``ai.txt`` uses the same grammar and is read with the same class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from protego import Protego

_USER_AGENT_LINE = re.compile(r"^\s*user[-\s]?agent\s*:?\s*(?P<agent>[^#]*?)\s*(?:#.*)?$", re.IGNORECASE)
_RULE_LINE = re.compile(r"^\s*(?:dis)?allow\s*:", re.IGNORECASE)
_STAR_QUERY = "*"
"""Asked of Protego to get the ``*`` group: no named group's token occurs in it."""

MAX_CRAWL_DELAY_S = 60.0
"""A larger Crawl-delay is capped: a site asking for hours between requests is read as "slowly"."""


@dataclass(frozen=True)
class RobotsVerdict:
    """Whether ``agent`` may fetch a URL, and which group decided: the agent's own, ``*``, or none."""

    agent: str
    allowed: bool
    group: str | None


class RobotsRules:
    """The parsed rules of one robots.txt (or ai.txt) text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._parser = Protego.parse(text)
        self.groups: frozenset[str] = frozenset(_group_names(text))
        """Lower-cased user-agent names that have a group (``*`` included)."""
        self.rule_count = sum(1 for line in text.splitlines() if _RULE_LINE.match(line))

    def verdict(self, url: str, agent: str) -> RobotsVerdict:
        """Whether the product token ``agent`` may fetch ``url`` (a full URL or a path)."""
        token = agent.strip().lower()
        if token in self.groups:
            return RobotsVerdict(agent, self._parser.can_fetch(url, agent), agent)
        if "*" in self.groups:
            return RobotsVerdict(agent, self._parser.can_fetch(url, _STAR_QUERY), "*")
        return RobotsVerdict(agent, allowed=True, group=None)

    def crawl_delay(self, agent: str) -> float | None:
        """Seconds the site asks ``agent`` to wait between requests (capped), from its group or ``*``."""
        token = agent.strip().lower()
        query = agent if token in self.groups else _STAR_QUERY
        delay = self._parser.crawl_delay(query)
        return None if delay is None else min(float(delay), MAX_CRAWL_DELAY_S)

    @property
    def sitemaps(self) -> tuple[str, ...]:
        """Sitemap URLs listed in the file, in order."""
        return tuple(self._parser.sitemaps)


def _group_names(text: str) -> set[str]:
    """Lower-cased agent names on User-agent lines; a ``*`` inside a name is dropped, as Protego does."""
    names: set[str] = set()
    for line in text.splitlines():
        match = _USER_AGENT_LINE.match(line)
        if match is None or not match["agent"]:
            continue
        name = match["agent"].lower()
        names.add(name)
        if name != "*" and "*" in name:
            names.add(name.replace("*", ""))
    return names
