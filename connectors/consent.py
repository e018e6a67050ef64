"""Machine-readable rights reservations a web page expressed when we fetched it, with the evidence.

Under the EU text-and-data-mining exception a reservation counts only if it is machine-readable, so
each signal is kept with its raw evidence (file bodies, their SHA-256, the headers and meta tags) and
its retrieval time. The signals, in the order the summary names them:

- robots.txt: allowed or disallowed for this URL, per known AI user agent (package data
  ``data/ai_agents.json``), each agent matched to its own group or else ``*`` (RFC 9309, Protego);
- TDMRep: ``/.well-known/tdmrep.json`` (first matching location wins), then the ``tdm-reservation``
  and ``tdm-policy`` headers, then the HTML meta tags, each later source overriding an earlier one
  except where it has no valid value (``1`` reserved, ``0`` not, anything else unset);
- ``noai`` in ``X-Robots-Tag`` (also scoped, ``X-Robots-Tag: GPTBot: noai``) or in a robots meta tag
  (``<meta name="robots">`` or one named after an AI agent); ``noimageai`` is recorded as images only;
- ``Content-Usage`` (IETF AI preferences draft: ``train-ai=n``) and ``Content-Signal`` (Cloudflare:
  ``ai-train=no``), in robots.txt lines or response headers;
- Spawning's ``ai.txt`` (robots.txt grammar), recorded raw and evaluated for this URL when it reads
  as such a file.

The status is ``reserved`` if any signal reserves, else ``unknown`` if a site file could not be read
(5xx, network) or the page could not be fetched, else ``not_reserved``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timezone
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from connectors._pagetags import PageTags, scan_tags
from connectors._robots import RobotsRules
from connectors.document import sha256_hex
from connectors.errors import ConnectorError, PrivateAddressError, UnsupportedSourceError
from connectors.fetcher import AGENT_NAME, decode_robots

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from connectors.fetcher import Fetcher, Response, SiteFile

ConsentStatus = Literal["reserved", "not_reserved", "unknown"]

TDMREP_PATH = "/.well-known/tdmrep.json"
AI_TXT_PATH = "/ai.txt"
ROBOTS_PATH = "/robots.txt"

HEADLINE_AGENTS = ("GPTBot", "ClaudeBot", "CCBot", "Google-Extended")
"""Named first in a summary, when disallowed: the agents readers look for."""

RELEVANT_HEADERS = frozenset(
    {
        "x-robots-tag",
        "tdm-reservation",
        "tdm-policy",
        "content-usage",
        "content-signal",
        "link",
        "content-type",
        "content-language",
        "date",
        "last-modified",
    }
)
"""Response headers kept as evidence (lower-case names)."""

_SUMMARY_NAMES = 4
_TDM_META = frozenset({"tdm-reservation", "tdm-policy"})
_COLON_DIRECTIVES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
"""Robots directives whose value follows a colon, so ``name:`` before them is not an agent scope."""
_USAGE_FIELDS = {"content-usage": "Content-Usage", "content-signal": "Content-Signal"}
_USAGE_LINE = re.compile(r"^\s*(?P<field>content-usage|content-signal)\s*:\s*(?P<value>.*?)\s*$", re.IGNORECASE)
_USER_AGENT_LINE = re.compile(r"^\s*user[-\s]?agent\s*:?\s*(?P<agent>.*?)\s*$", re.IGNORECASE)
_TRAINING_PREFERENCES = frozenset({"train-ai", "train-genai", "ai", "genai", "tdm", "ai-train"})
"""Preference keys about training or mining: ``=n`` / ``=no`` reserves."""
_NO = frozenset({"n", "no"})
_HTML_START = re.compile(rb"^\s*(?:<!doctype\s+html|<html|<head|<body)", re.IGNORECASE)


# --- the AI user agents (package data) -----------------------------------------------------------


@dataclass(frozen=True)
class AIAgent:
    """A known AI crawler or control token, as robots.txt addresses it.

    ``control_token`` marks names no crawler sends (``Google-Extended``): they exist only to be
    named in robots.txt and govern training use, not fetching.
    """

    token: str
    operator: str
    purpose: str
    respects_robots_txt: str
    control_token: bool = False


@cache
def ai_agents() -> tuple[AIAgent, ...]:
    """The known AI user agents, from ``connectors/data/ai_agents.json``."""
    raw = files("connectors").joinpath("data/ai_agents.json").read_text(encoding="utf-8")
    data = json.loads(raw)
    return tuple(
        AIAgent(
            token=str(entry["token"]),
            operator=str(entry.get("operator", "")),
            purpose=str(entry.get("purpose", "")),
            respects_robots_txt=str(entry.get("respects_robots_txt", "")),
            control_token=bool(entry.get("control_token", False)),
        )
        for entry in data["agents"]
    )


_CONTROL_TOKENS = frozenset({"google-extended", "applebot-extended"})
_MARKDOWN_LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<url>[^)]*)\)")


def agents_from_registry(registry: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Entries for ``ai_agents.json`` from the ai.robots.txt project's ``robots.json`` (MIT).

    Markdown links in the upstream text are reduced to their text (the first link of the operator is
    kept as ``operator_url``); names that differ only in case are one robots.txt agent, kept once.
    """
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for token, info in registry.items():
        if token.lower() in seen:
            continue
        seen.add(token.lower())
        operator = str(info.get("operator", ""))
        link = _MARKDOWN_LINK.search(operator)
        entry: dict[str, Any] = {
            "token": token,
            "operator": _plain(operator),
            "operator_url": link["url"] if link else "",
            "purpose": _plain(str(info.get("function", ""))),
            "respects_robots_txt": _plain(str(info.get("respect", ""))),
            "description": _plain(str(info.get("description", ""))),
        }
        if token.lower() in _CONTROL_TOKENS:
            entry["control_token"] = True
        entries.append(entry)
    return entries


def _plain(text: str) -> str:
    """``text`` with Markdown links reduced to their text."""
    return _MARKDOWN_LINK.sub(lambda m: m["text"], text).strip()


# --- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEvidence:
    """A site-level file as retrieved: where, when, the answer, and its text with the text's SHA-256.

    ``sha256`` is of the body bytes as received (after any Content-Encoding), empty when no body.
    """

    url: str
    status: str
    retrieved_at: datetime
    http_status: int | None
    final_url: str | None
    content_type: str
    text: str
    sha256: str
    error: str | None

    @classmethod
    def of(cls, found: SiteFile) -> FileEvidence:
        """Evidence for a fetched ``SiteFile``."""
        return cls(
            url=found.url,
            status=found.status,
            retrieved_at=found.retrieved_at,
            http_status=found.http_status,
            final_url=found.final_url,
            content_type=found.content_type,
            text=decode_robots(found.body) if found.body else "",
            sha256=sha256_hex(found.body) if found.body else "",
            error=found.error,
        )


@dataclass(frozen=True)
class AgentVerdict:
    """robots.txt's answer for one AI agent and this URL; ``group`` is the agent's own, ``*`` or None."""

    agent: str
    operator: str
    allowed: bool
    group: str | None


@dataclass(frozen=True)
class RobotsSignal:
    """robots.txt for this URL: the file, every known AI agent's verdict, and ours."""

    file: FileEvidence
    agents: tuple[AgentVerdict, ...]
    provenance_audit_allowed: bool | None

    @property
    def disallowed(self) -> tuple[AgentVerdict, ...]:
        """The AI agents robots.txt disallows for this URL."""
        return tuple(verdict for verdict in self.agents if not verdict.allowed)


@dataclass(frozen=True)
class TDMRepSignal:
    """The TDMRep result and every source it was drawn from.

    ``reservation`` is 1, 0 or None (unset); ``source`` names where the final value came from
    (``tdmrep.json``, ``header`` or ``meta``). ``rule`` is the first tdmrep.json rule whose
    ``location`` matches this URL, as written in the file.
    """

    reservation: int | None
    policy: str | None
    source: str | None
    file: FileEvidence
    rule: dict[str, Any] | None
    header_reservation: tuple[str, ...]
    header_policy: tuple[str, ...]
    meta_reservation: tuple[str, ...]
    meta_policy: tuple[str, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class RobotsDirective:
    """One robots directive from ``X-Robots-Tag`` or a robots meta tag, with its agent scope (None: all)."""

    source: str
    scope: str | None
    directive: str


@dataclass(frozen=True)
class UsagePreference:
    """A ``Content-Usage`` or ``Content-Signal`` line (robots.txt) or header, parsed.

    ``groups`` are the robots.txt user agents the line sat under (empty for headers); ``path`` the
    path prefix it is limited to, if any; ``applies`` whether it covers this URL for AI agents.
    """

    source: str
    field: str
    value: str
    preferences: dict[str, str]
    groups: tuple[str, ...]
    path: str | None
    applies: bool
    reserves: bool


@dataclass(frozen=True)
class AiTxtSignal:
    """Spawning's ai.txt: the file, whether it reads as robots.txt grammar, and its verdict for this URL."""

    file: FileEvidence
    evaluated: bool
    disallowed: bool | None
    note: str


@dataclass(frozen=True)
class PageEvidence:
    """The page response the page-level signals come from (None fields when it was not fetched)."""

    url: str
    final_url: str | None
    http_status: int | None
    retrieved_at: datetime | None
    headers: tuple[tuple[str, str], ...]
    meta_tags: tuple[tuple[str, str], ...]
    license_links: tuple[str, ...]
    error: str | None


@dataclass(frozen=True)
class ConsentReport:
    """The rights signals of one URL at retrieval: ``status``, a one-line ``summary``, and the evidence."""

    url: str
    checked_at: datetime
    status: ConsentStatus
    summary: str
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    page: PageEvidence
    robots: RobotsSignal
    tdmrep: TDMRepSignal
    robots_directives: tuple[RobotsDirective, ...]
    usage: tuple[UsagePreference, ...]
    ai_txt: AiTxtSignal

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 strings, tuples as lists) of the whole report."""
        value = _jsonable(self)
        if not isinstance(value, dict):  # pragma: no cover - a dataclass always becomes a dict
            raise TypeError("report did not serialise to an object")
        return value


def _jsonable(value: Any) -> Any:  # noqa: ANN401 - walks any report value
    """``value`` with dataclasses as dicts, datetimes as ISO strings, tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


# --- checking ------------------------------------------------------------------------------------


def check_consent(url: str, fetcher: Fetcher) -> ConsentReport:
    """Fetch ``url`` and its site's policy files with ``fetcher`` and report the rights signals.

    Failures to fetch are recorded in the report (the status is then ``unknown`` unless another
    signal reserves); only a URL we will not fetch at all (not http/https, a non-public address
    without ``allow_private``) raises its ``ConnectorError``.
    """
    try:
        response = fetcher.get(url)
    except (UnsupportedSourceError, PrivateAddressError):
        raise
    except ConnectorError as exc:
        page = PageEvidence(url, None, None, None, (), (), (), exc.reason)
        return _assess(url, url, page, (), None, fetcher)
    return consent_for_response(response, fetcher)


def consent_for_response(
    response: Response,
    fetcher: Fetcher,
    *,
    html: str | None = None,
    tags: PageTags | None = None,
) -> ConsentReport:
    """The rights signals of a page already fetched: its headers and HTML are reused, not refetched.

    Pass the decoded ``html`` (or its scanned ``tags``) when the caller has them; otherwise the body
    is decoded as UTF-8 to look for meta tags if the response is HTML.
    """
    if tags is None:
        if html is None and _is_html(response):
            html = _lenient_text(response)
        tags = scan_tags(html) if html else None
    meta = tuple((tag.name, tag.content) for tag in tags.meta if _relevant_meta(tag.name)) if tags else ()
    licenses = tags.link_hrefs("license") if tags else ()
    headers = tuple((name, value) for name, value in response.headers if name.lower() in RELEVANT_HEADERS)
    page = PageEvidence(
        url=response.url,
        final_url=response.final_url,
        http_status=response.status,
        retrieved_at=response.retrieved_at,
        headers=headers,
        meta_tags=meta,
        license_links=licenses,
        error=None,
    )
    return _assess(response.url, response.final_url, page, response.headers, tags, fetcher)


def _assess(
    url: str,
    effective_url: str,
    page: PageEvidence,
    headers: Sequence[tuple[str, str]],
    tags: PageTags | None,
    fetcher: Fetcher,
) -> ConsentReport:
    """Gather every signal for ``effective_url`` (the final URL of the page) and judge them."""
    agents = ai_agents()
    agent_names = {agent.token.lower() for agent in agents}
    robots = _robots_signal(effective_url, fetcher, agents)
    tdmrep = _tdmrep_signal(effective_url, fetcher, headers, tags)
    directives = _robots_directives(headers, tags, agent_names)
    usage = _usage_preferences(effective_url, robots.file, headers, agent_names)
    ai_txt = _ai_txt_signal(effective_url, fetcher)
    reasons, notes, unknown = _judge(page, robots, tdmrep, directives, usage, ai_txt, agent_names)
    status: ConsentStatus = "reserved" if reasons else "unknown" if unknown else "not_reserved"
    if reasons:
        summary = "; ".join(reasons)
    elif unknown:
        summary = "unknown: " + "; ".join(unknown)
    else:
        summary = "no reservation found: " + "; ".join(notes)
    return ConsentReport(
        url=url,
        checked_at=datetime.now(timezone.utc),
        status=status,
        summary=summary,
        reasons=tuple(reasons),
        notes=tuple(unknown + notes),
        page=page,
        robots=robots,
        tdmrep=tdmrep,
        robots_directives=tuple(directives),
        usage=tuple(usage),
        ai_txt=ai_txt,
    )


def _robots_signal(url: str, fetcher: Fetcher, agents: Sequence[AIAgent]) -> RobotsSignal:
    """Each known AI agent's robots.txt verdict for ``url``, and ours."""
    found = fetcher.site_file(url, ROBOTS_PATH)
    evidence = FileEvidence.of(found)
    if found.status != "ok":
        return RobotsSignal(evidence, (), None if found.status != "missing" else True)
    rules = RobotsRules(evidence.text)
    verdicts = []
    for agent in agents:
        verdict = rules.verdict(url, agent.token)
        verdicts.append(AgentVerdict(agent.token, agent.operator, verdict.allowed, verdict.group))
    return RobotsSignal(evidence, tuple(verdicts), rules.verdict(url, AGENT_NAME).allowed)


def _tdmrep_signal(
    url: str, fetcher: Fetcher, headers: Sequence[tuple[str, str]], tags: PageTags | None
) -> TDMRepSignal:
    """TDMRep from tdmrep.json, then headers, then meta tags, later valid values overriding earlier ones."""
    found = fetcher.site_file(url, TDMREP_PATH)
    evidence = FileEvidence.of(found)
    problems: list[str] = []
    reservation: int | None = None
    policy: str | None = None
    source: str | None = None
    rule = None
    if found.status == "ok":
        rule = _tdmrep_rule(evidence.text, url, problems)
        if rule is not None:
            reservation = _reservation_value(rule.get("tdm-reservation"))
            if reservation is None:
                problems.append(f"tdmrep.json rule for {rule.get('location')!r} has no valid tdm-reservation")
            else:
                source = "tdmrep.json"
            if isinstance(rule.get("tdm-policy"), str) and rule["tdm-policy"].strip():
                policy = rule["tdm-policy"].strip()
    header_res = _values(headers, "tdm-reservation")
    header_pol = _values(headers, "tdm-policy")
    meta_res = tags.meta_values("tdm-reservation") if tags else ()
    meta_pol = tags.meta_values("tdm-policy") if tags else ()
    for name, res_values, pol_values in (("header", header_res, header_pol), ("meta", meta_res, meta_pol)):
        value = next((v for v in map(_reservation_value, res_values) if v is not None), None)
        if res_values and value is None:
            problems.append(f"tdm-reservation {name} value {res_values[0]!r} is neither 0 nor 1; ignored")
        if value is not None:
            reservation, source = value, name
        if pol_values and pol_values[0]:
            policy = pol_values[0]
    return TDMRepSignal(
        reservation=reservation,
        policy=policy,
        source=source,
        file=evidence,
        rule=rule,
        header_reservation=header_res,
        header_policy=header_pol,
        meta_reservation=meta_res,
        meta_policy=meta_pol,
        problems=tuple(problems),
    )


def _tdmrep_rule(text: str, url: str, problems: list[str]) -> dict[str, Any] | None:
    """The first rule of a tdmrep.json ``text`` whose location matches ``url``; notes problems."""
    try:
        data = json.loads(text)
    except ValueError:
        problems.append("tdmrep.json is not JSON; ignored")
        return None
    if not isinstance(data, list):
        problems.append("tdmrep.json is not a JSON array of rules; ignored")
        return None
    target = _path_and_query(url)
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("location"), str):
            problems.append(f"tdmrep.json entry without a location string ignored: {json.dumps(entry)[:80]}")
            continue
        if location_matches(entry["location"], target):
            return {str(key): value for key, value in entry.items()}
    return None


def location_matches(pattern: str, path: str) -> bool:
    """Whether a TDMRep ``location`` pattern (robots.txt style: ``*`` any run, final ``$`` end) matches ``path``."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    if not body.startswith(("/", "*")):
        body = "/" + body
    regex = ".*".join(re.escape(part) for part in body.split("*")) + ("$" if anchored else "")
    return re.match(regex, path) is not None


def _reservation_value(value: object) -> int | None:
    """1 or 0 from a tdm-reservation value (number or string); None for anything else."""
    if isinstance(value, bool):
        return None
    text = str(value).strip() if isinstance(value, (int, str)) else ""
    return int(text) if text in {"0", "1"} else None


def _robots_directives(
    headers: Sequence[tuple[str, str]], tags: PageTags | None, agent_names: set[str]
) -> list[RobotsDirective]:
    """Directives of every ``X-Robots-Tag`` header and of robots or AI-agent-named meta tags."""
    found: list[RobotsDirective] = []
    for value in _values(headers, "x-robots-tag"):
        scope: str | None = None
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            name, colon, rest = item.partition(":")
            if colon and name.strip().lower() not in _COLON_DIRECTIVES and rest.strip():
                scope, item = name.strip(), rest.strip()  # noqa: PLW2901 - the item after its agent scope
            found.append(RobotsDirective("X-Robots-Tag", scope, item.lower()))
    if tags is not None:
        for tag in tags.meta:
            if tag.name == "robots" or tag.name in agent_names:
                tag_scope = None if tag.name == "robots" else tag.name
                found.extend(
                    RobotsDirective(f"meta {tag.name}", tag_scope, part.strip().lower())
                    for part in re.split(r"[,\s]+", tag.content)
                    if part.strip()
                )
    return found


def _usage_preferences(
    url: str, robots: FileEvidence, headers: Sequence[tuple[str, str]], agent_names: set[str]
) -> list[UsagePreference]:
    """``Content-Usage`` and ``Content-Signal`` lines of robots.txt and headers, parsed and applied to ``url``."""
    found: list[UsagePreference] = []
    path = _path_and_query(url)
    groups: list[str] = []
    after_rule = False
    for number, line in enumerate(robots.text.splitlines(), start=1):
        content = line.split("#", 1)[0]
        agent = _USER_AGENT_LINE.match(content)
        if agent is not None and agent["agent"]:
            if after_rule:
                groups, after_rule = [], False
            groups.append(agent["agent"])
            continue
        if content.strip():
            after_rule = True
        match = _USAGE_LINE.match(content)
        if match is None:
            continue
        value = match["value"]
        limit = None
        if value.startswith("/"):
            limit, _, value = value.partition(" ")
            value = value.strip()
        preferences = _parse_preferences(value)
        applies = (not groups or any(g == "*" or g.lower() in agent_names for g in groups)) and (
            limit is None or path.startswith(limit)
        )
        field = _USAGE_FIELDS[match["field"].lower()]
        found.append(
            UsagePreference(
                f"robots.txt line {number}", field, value, preferences, tuple(groups), limit, applies,
                reserves=applies and _reserves(preferences),
            )
        )  # fmt: skip
    for key, field in _USAGE_FIELDS.items():
        for value in _values(headers, key):
            preferences = _parse_preferences(value)
            found.append(
                UsagePreference(
                    f"{field} header",
                    field,
                    value,
                    preferences,
                    (),
                    None,
                    applies=True,
                    reserves=_reserves(preferences),
                )
            )
    return found


def _parse_preferences(value: str) -> dict[str, str]:
    """``train-ai=n, search=y`` as ``{"train-ai": "n", "search": "y"}`` (keys and values lower-cased)."""
    preferences: dict[str, str] = {}
    for item in value.split(","):
        key, equals, setting = item.partition("=")
        if equals and key.strip():
            preferences[key.strip().lower()] = setting.strip().strip('"').lower()
    return preferences


def _reserves(preferences: Mapping[str, str]) -> bool:
    """Whether the preferences say no to AI training or mining."""
    return any(key in _TRAINING_PREFERENCES and value in _NO for key, value in preferences.items())


def _ai_txt_signal(url: str, fetcher: Fetcher) -> AiTxtSignal:
    """Spawning's ai.txt for the site: recorded, and evaluated for ``url`` when it reads as robots.txt grammar."""
    found = fetcher.site_file(url, AI_TXT_PATH)
    evidence = FileEvidence.of(found)
    if found.status != "ok":
        return AiTxtSignal(evidence, evaluated=False, disallowed=None, note=found.error or found.status)
    if _HTML_START.match(found.body[:512]) or "html" in evidence.content_type:
        return AiTxtSignal(evidence, evaluated=False, disallowed=None, note="an HTML page, not an ai.txt file")
    rules = RobotsRules(evidence.text)
    if not rules.groups or not rules.rule_count:
        return AiTxtSignal(evidence, evaluated=False, disallowed=None, note="no User-Agent group with rules")
    verdict = rules.verdict(url, "*")
    return AiTxtSignal(evidence, evaluated=True, disallowed=not verdict.allowed, note="evaluated for User-Agent: *")


@dataclass
class _Findings:
    """What the signals add up to: reasons that reserve, notes that do not, gaps in what we could read."""

    reasons: list[str]
    notes: list[str]
    unknown: list[str]


def _judge(
    page: PageEvidence,
    robots: RobotsSignal,
    tdmrep: TDMRepSignal,
    directives: Sequence[RobotsDirective],
    usage: Sequence[UsagePreference],
    ai_txt: AiTxtSignal,
    agent_names: set[str],
) -> tuple[list[str], list[str], list[str]]:
    """Reasons that reserve, notes that do not, and reasons the answer may be incomplete."""
    findings = _Findings([], [], [])
    if page.error is not None:
        findings.unknown.append(f"page not fetched ({page.error})")
    _judge_robots(robots, findings)
    if tdmrep.reservation is not None:
        text = f"tdm-reservation: {tdmrep.reservation} ({tdmrep.source})"
        (findings.reasons if tdmrep.reservation == 1 else findings.notes).append(text)
    _judge_unreadable("tdmrep.json", tdmrep.file, findings)
    _judge_directives(directives, agent_names, findings)
    findings.reasons.extend(f"{pref.field}: {pref.value} ({pref.source})" for pref in usage if pref.reserves)
    if ai_txt.evaluated and ai_txt.disallowed:
        findings.reasons.append("ai.txt disallows this URL")
    _judge_unreadable("ai.txt", ai_txt.file, findings)
    if not findings.notes and not findings.reasons:
        findings.notes.append("no TDMRep, noai, Content-Usage or ai.txt reservation")
    return _unique(findings.reasons), _unique(findings.notes), _unique(findings.unknown)


def _judge_robots(robots: RobotsSignal, findings: _Findings) -> None:
    """robots.txt's part: which AI agents it disallows, or why it says nothing."""
    file = robots.file
    if file.status == "ok":
        if robots.disallowed:
            findings.reasons.append(_robots_reason(robots.disallowed, len(robots.agents)))
        else:
            findings.notes.append(f"robots.txt allows all {len(robots.agents)} known AI agents")
    elif file.status == "missing":
        findings.notes.append(f"no robots.txt (HTTP {file.http_status})")
    else:
        findings.unknown.append(f"robots.txt {file.status} ({file.error})")


def _judge_unreadable(name: str, file: FileEvidence, findings: _Findings) -> None:
    """A site file we could not read leaves the answer incomplete."""
    if file.status in {"unreachable", "refused"}:
        findings.unknown.append(f"{name} {file.status} ({file.error})")


def _judge_directives(directives: Sequence[RobotsDirective], agent_names: set[str], findings: _Findings) -> None:
    """``noai`` reserves (for everyone or an AI agent); ``noimageai`` is noted as about images only."""
    for directive in directives:
        if directive.scope is not None and directive.scope.lower() not in agent_names:
            continue
        scoped = directive.scope is not None and directive.source == "X-Robots-Tag"
        where = f"{directive.source} {directive.scope}:" if scoped else f"{directive.source}:"
        if directive.directive == "noai":
            findings.reasons.append(f"{where} noai")
        elif directive.directive == "noimageai":
            findings.notes.append(f"{where} noimageai (images only)")


def _robots_reason(disallowed: Sequence[AgentVerdict], total: int) -> str:
    """``robots.txt disallows GPTBot, ClaudeBot and 3 other AI agents`` (headline agents first)."""
    order = {name.lower(): index for index, name in enumerate(HEADLINE_AGENTS)}
    ranked = sorted(disallowed, key=lambda v: order.get(v.agent.lower(), len(order)))
    names = [verdict.agent for verdict in ranked[:_SUMMARY_NAMES]]
    rest = len(ranked) - len(names)
    if rest:
        listed = f"{', '.join(names)} and {rest} other AI agents"
    elif len(names) > 1:
        listed = f"{', '.join(names[:-1])} and {names[-1]}"
    else:
        listed = names[0]
    if len(ranked) == total and total > _SUMMARY_NAMES:
        listed = f"all {total} known AI agents ({', '.join(names)}, ...)"
    through_star = sum(1 for verdict in disallowed if verdict.group == "*")
    if through_star == len(disallowed):
        return f"robots.txt disallows {listed} (through User-agent: *)"
    if through_star:
        return f"robots.txt disallows {listed} ({len(disallowed) - through_star} by name)"
    return f"robots.txt disallows {listed}"


def _values(headers: Sequence[tuple[str, str]], name: str) -> tuple[str, ...]:
    """Every value of header ``name`` (case-insensitive)."""
    return tuple(value.strip() for key, value in headers if key.lower() == name)


def _relevant_meta(name: str) -> bool:
    """Whether a meta tag is evidence: robots, TDMRep, or one named after a known AI agent."""
    return name == "robots" or name in _TDM_META or name in _agent_names()


@cache
def _agent_names() -> frozenset[str]:
    """Lower-cased tokens of the known AI agents."""
    return frozenset(agent.token.lower() for agent in ai_agents())


def _lenient_text(response: Response) -> str:
    """The body decoded by its declared charset, else UTF-8, with bad bytes replaced (enough for tags)."""
    try:
        return response.body.decode(response.charset or "utf-8", errors="replace")
    except LookupError:
        return response.body.decode("utf-8", errors="replace")


def _is_html(response: Response) -> bool:
    """Whether the response is an HTML page (by type, or by its first bytes when untyped)."""
    if response.content_type in {"text/html", "application/xhtml+xml"}:
        return True
    return not response.content_type and _HTML_START.match(response.body[:512]) is not None


def _path_and_query(url: str) -> str:
    """The path (``/`` if empty) and query of ``url``, as robots-style patterns see it."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _unique(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, in order."""
    return list(dict.fromkeys(items))
