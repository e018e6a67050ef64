import hashlib
import json
from pathlib import Path

import pytest
from localhttp import Route

from connectors._robots import RobotsRules
from connectors.consent import (
    agents_from_registry,
    ai_agents,
    check_consent,
    consent_for_response,
    location_matches,
)
from connectors.errors import PrivateAddressError, UnsupportedSourceError
from connectors.fetcher import Fetcher, decode_robots

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "web"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared/samples/web is not beside the repository")


@pytest.fixture
def fetcher():
    return Fetcher(allow_private=True, min_interval=0.0, connect_timeout=2.0, read_timeout=2.0)


def text(body):
    return Route(body=body.encode(), headers=(("Content-Type", "text/plain"),))


def page(body="<html><head><title>T</title></head><body><p>Words.</p></body></html>", headers=()):
    return Route(body=body.encode(), headers=(("Content-Type", "text/html; charset=utf-8"), *headers))


ROBOTS = """\
User-agent: GPTBot
User-agent: CCBot
Disallow: /

User-agent: *
Content-Signal: search=yes, ai-train=no
Allow: /
"""

TDMREP = [
    {"location": "/drafts/*", "tdm-reservation": 0},
    {"location": "/*.html$", "tdm-reservation": 1, "tdm-policy": "https://example.com/policy.json"},
    {"location": "/", "tdm-reservation": 0},
]

FULL_PAGE = """<!doctype html><html lang="en"><head><title>Reserved</title>
<meta name="robots" content="noai, noimageai">
<meta name="tdm-reservation" content="1">
<meta name="tdm-policy" content="https://example.com/meta-policy">
<meta name="CCBot" content="nofollow">
<meta name="description" content="not evidence">
<link rel="license" href="https://creativecommons.org/licenses/by-nd/4.0/">
</head><body><p>My essay.</p></body></html>"""


# --- the AI agents --------------------------------------------------------------------------------


def test_known_ai_agents_include_the_main_ones():
    agents = {agent.token: agent for agent in ai_agents()}
    for token in ("GPTBot", "ClaudeBot", "CCBot", "Google-Extended"):
        assert token in agents
    assert agents["GPTBot"].operator == "OpenAI"
    assert agents["GPTBot"].purpose
    assert agents["Google-Extended"].control_token
    assert not agents["GPTBot"].control_token
    assert len({token.lower() for token in agents}) == len(agents)


def test_agents_data_records_its_origin_and_licence():
    data = json.loads((Path(__file__).resolve().parents[2] / "connectors" / "data" / "ai_agents.json").read_text())
    assert data["source"]["license"] == "MIT"
    assert "Permission is hereby granted" in data["source"]["license_text"]
    assert "ai.robots.txt" in data["source"]["url"]


def test_agents_from_registry_reduces_markdown_and_case_duplicates():
    registry = {
        "GPTBot": {"operator": "[OpenAI](https://openai.com)", "function": "Training.", "respect": "[Yes](https://x)"},
        "gptbot": {"operator": "dup", "function": "", "respect": ""},
        "Google-Extended": {"operator": "Google", "function": "LLM training.", "respect": "Yes"},
    }
    entries = agents_from_registry(registry)
    assert [e["token"] for e in entries] == ["GPTBot", "Google-Extended"]
    assert entries[0]["operator"] == "OpenAI"
    assert entries[0]["operator_url"] == "https://openai.com"
    assert entries[0]["respects_robots_txt"] == "Yes"
    assert entries[1]["control_token"] is True


@needs_samples
def test_packaged_agents_match_the_registry_snapshot():
    registry = json.loads((SAMPLES / "ai-robots-registry.json").read_text(encoding="utf-8"))
    expected = [entry["token"] for entry in agents_from_registry(registry)]
    assert [agent.token for agent in ai_agents()] == expected


# --- robots.txt parsing against real files --------------------------------------------------------


@needs_samples
@pytest.mark.parametrize(
    ("site", "path", "agent", "allowed", "group"),
    [
        # Wikipedia's file starts with a byte-order mark; GPTBot has no group, so * applies.
        ("en.wikipedia.org", "/wiki/Main_Page", "GPTBot", True, "*"),
        ("en.wikipedia.org", "/w/index.php?title=Special:Search", "GPTBot", False, "*"),
        ("en.wikipedia.org", "/wiki/Main_Page", "MJ12bot", False, "MJ12bot"),
        # "Mediapartners-Google*": a wildcard the standard library's parser does not read.
        ("en.wikipedia.org", "/wiki/Main_Page", "Mediapartners-Google", False, "Mediapartners-Google"),
        # GitHub disallows everything for *, but CCBot has its own group with longest-match rules.
        ("github.com", "/", "GPTBot", False, "*"),
        ("github.com", "/", "CCBot", True, "CCBot"),
        ("github.com", "/owner/repo/tree/master", "CCBot", True, "CCBot"),
        ("github.com", "/owner/repo/tree/branch", "CCBot", False, "CCBot"),
        ("github.com", "/humans.txt", "ClaudeBot", True, "*"),
        # Pixabay: CCBot in a merged group of thirteen agents; Allow /static/*.* beats Disallow /static/.
        ("pixabay.com", "/", "CCBot", False, "CCBot"),
        ("pixabay.com", "/static/img/logo.png", "GPTBot", True, "*"),
        ("pixabay.com", "/static/img/", "GPTBot", False, "*"),
        ("uk.reuters.com", "/business", "GPTBot", True, "*"),
        ("uk.reuters.com", "/x/idUKPTIP123", "GPTBot", False, "*"),
        ("uk.reuters.com", "/", "omgili", False, "omgili"),
    ],
)
def test_robots_rules_on_real_files(site, path, agent, allowed, group):
    rules = RobotsRules(decode_robots((SAMPLES / "robots" / site).read_bytes()))
    verdict = rules.verdict(f"https://{site}{path}", agent)
    assert (verdict.allowed, verdict.group) == (allowed, group)


def test_an_agent_obeys_its_own_group_not_a_prefix_of_its_name():
    rules = RobotsRules("User-agent: Applebot\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    assert not rules.verdict("https://x/a", "Applebot").allowed
    verdict = rules.verdict("https://x/a", "Applebot-Extended")
    assert (verdict.allowed, verdict.group) == (True, "*")


def test_robots_without_a_group_for_the_agent_or_star_allow_everything():
    rules = RobotsRules("User-agent: GPTBot\nDisallow: /\n")
    assert rules.verdict("https://x/", "CCBot") == rules.verdict("https://x/", "CCBot")
    assert rules.verdict("https://x/", "CCBot").allowed
    assert rules.verdict("https://x/", "CCBot").group is None


# --- TDMRep locations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/", "/anything", True),
        ("/blog/", "/blog/post", True),
        ("/blog/", "/about", False),
        ("/*.html$", "/a/b.html", True),
        ("/*.html$", "/a/b.html?x=1", False),
        ("/*.html", "/a/b.html?x=1", True),
        ("/exact$", "/exact", True),
        ("/exact$", "/exact/more", False),
        ("*.pdf", "/doc.pdf", True),
        ("/a.b(c)", "/a.b(c)/d", True),
        ("/a.b", "/axb", False),
    ],
)
def test_tdmrep_location_patterns(pattern, path, matches):
    assert location_matches(pattern, path) is matches


# --- whole reports against a local site ------------------------------------------------------------


@pytest.fixture
def reserved_site(server):
    server.routes["/robots.txt"] = text(ROBOTS)
    server.routes["/.well-known/tdmrep.json"] = Route(
        body=json.dumps(TDMREP).encode(), headers=(("Content-Type", "application/json"),)
    )
    server.routes["/ai.txt"] = text("User-Agent: *\nDisallow: *.html\n")
    server.routes["/essay"] = page(
        FULL_PAGE,
        headers=(
            ("X-Robots-Tag", "noimageai"),
            ("X-Robots-Tag", "GPTBot: noai"),
            ("X-Robots-Tag", "googlebot: noai, unavailable_after: 25 Jun 2030 15:00:00 PST"),
            ("tdm-reservation", "1"),
            ("Content-Usage", "train-ai=n, search=y"),
        ),
    )
    return server


def test_reserved_site_report(reserved_site, fetcher):
    report = check_consent(reserved_site.base + "/essay", fetcher)
    assert report.status == "reserved"
    assert report.summary.startswith("robots.txt disallows GPTBot and CCBot; tdm-reservation: 1 (meta)")
    assert "X-Robots-Tag GPTBot: noai" in report.reasons
    assert "meta robots: noai" in report.reasons
    assert "Content-Signal: search=yes, ai-train=no (robots.txt line 6)" in report.reasons
    assert "Content-Usage: train-ai=n, search=y (Content-Usage header)" in report.reasons
    assert "ai.txt disallows this URL" not in report.reasons  # /essay does not end in .html
    assert "X-Robots-Tag: noimageai (images only)" in report.notes
    assert not any("googlebot" in reason for reason in report.reasons)  # scoped to a non-AI agent
    # robots.txt evidence
    assert report.robots.file.text == ROBOTS
    assert report.robots.file.sha256 == hashlib.sha256(ROBOTS.encode()).hexdigest()
    assert report.robots.file.http_status == 200
    assert {v.agent for v in report.robots.disallowed} == {"GPTBot", "CCBot"}
    assert report.robots.provenance_audit_allowed is True
    gptbot = next(v for v in report.robots.agents if v.agent == "GPTBot")
    assert (gptbot.allowed, gptbot.group, gptbot.operator) == (False, "GPTBot", "OpenAI")
    # TDMRep: the file's last rule (/) matched, the header then the meta overrode it
    assert report.tdmrep.rule == {"location": "/", "tdm-reservation": 0}
    assert (report.tdmrep.reservation, report.tdmrep.source) == (1, "meta")
    assert report.tdmrep.policy == "https://example.com/meta-policy"
    assert report.tdmrep.header_reservation == ("1",)
    # page evidence
    assert ("X-Robots-Tag", "GPTBot: noai") in report.page.headers
    assert ("robots", "noai, noimageai") in report.page.meta_tags
    assert ("ccbot", "nofollow") in report.page.meta_tags
    assert ("description", "not evidence") not in report.page.meta_tags
    assert report.page.license_links == ("https://creativecommons.org/licenses/by-nd/4.0/",)
    scoped = [d for d in report.robots_directives if d.scope == "googlebot"]
    assert [d.directive for d in scoped] == ["noai", "unavailable_after: 25 jun 2030 15:00:00 pst"]


def test_report_is_json_ready_with_raw_evidence(reserved_site, fetcher):
    report = check_consent(reserved_site.base + "/essay", fetcher)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["status"] == "reserved"
    assert data["summary"] == report.summary
    assert data["robots"]["file"]["text"] == ROBOTS
    assert len(data["robots"]["file"]["sha256"]) == 64
    assert data["tdmrep"]["file"]["text"] == json.dumps(TDMREP)
    assert data["ai_txt"]["file"]["text"].startswith("User-Agent")
    assert data["checked_at"].endswith("+00:00")
    assert data["page"]["retrieved_at"]
    assert ["tdm-reservation", "1"] in data["page"]["headers"]


def test_tdmrep_file_rule_applies_when_nothing_overrides(reserved_site, fetcher):
    reserved_site.routes["/drafts/a.html"] = page()
    reserved_site.routes["/notes/b.html"] = page()
    drafts = check_consent(reserved_site.base + "/drafts/a.html", fetcher)
    assert (drafts.tdmrep.reservation, drafts.tdmrep.source) == (0, "tdmrep.json")  # first match wins
    notes = check_consent(reserved_site.base + "/notes/b.html", fetcher)
    assert (notes.tdmrep.reservation, notes.tdmrep.policy) == (1, "https://example.com/policy.json")
    assert "tdm-reservation: 1 (tdmrep.json)" in notes.reasons
    assert "ai.txt disallows this URL" in notes.reasons


def test_a_missing_or_invalid_value_never_resets_an_earlier_one(server, fetcher):
    server.routes["/.well-known/tdmrep.json"] = text(json.dumps([{"location": "/", "tdm-reservation": 1}]))
    server.routes["/p"] = page(
        '<html><head><meta name="tdm-reservation" content="yes"></head><body><p>x</p></body></html>',
        headers=(("tdm-reservation", "2"),),
    )
    report = check_consent(server.base + "/p", fetcher)
    assert (report.tdmrep.reservation, report.tdmrep.source) == (1, "tdmrep.json")
    assert len(report.tdmrep.problems) == 2
    assert report.status == "reserved"


def test_site_files_are_fetched_once_per_host(reserved_site, fetcher):
    reserved_site.routes["/other"] = page()
    check_consent(reserved_site.base + "/essay", fetcher)
    check_consent(reserved_site.base + "/other", fetcher)
    for path in ("/robots.txt", "/.well-known/tdmrep.json", "/ai.txt"):
        assert reserved_site.requests.count(path) == 1
    assert reserved_site.requests.count("/essay") == 1


def test_consent_for_a_fetched_page_does_not_fetch_it_again(reserved_site, fetcher):
    response = fetcher.get(reserved_site.base + "/essay")
    report = consent_for_response(response, fetcher)
    assert report.status == "reserved"
    assert "meta robots: noai" in report.reasons
    assert reserved_site.requests.count("/essay") == 1


def test_nothing_reserved(server, fetcher):
    server.routes["/robots.txt"] = text("User-agent: *\nDisallow: /admin/\n")
    server.routes["/p"] = page()
    report = check_consent(server.base + "/p", fetcher)
    assert report.status == "not_reserved"
    assert report.reasons == ()
    assert report.summary.startswith("no reservation found: robots.txt allows all")
    assert report.tdmrep.file.status == "missing"
    assert report.ai_txt.file.status == "missing"


def test_no_site_files_at_all(server, fetcher):
    server.routes["/p"] = page()
    report = check_consent(server.base + "/p", fetcher)
    assert report.status == "not_reserved"
    assert "no robots.txt (HTTP 404)" in report.summary
    assert report.robots.provenance_audit_allowed is True


def test_tdm_reservation_zero_is_an_explicit_not_reserved(server, fetcher):
    server.routes["/p"] = page(headers=(("tdm-reservation", "0"),))
    report = check_consent(server.base + "/p", fetcher)
    assert report.status == "not_reserved"
    assert "tdm-reservation: 0 (header)" in report.summary


def test_star_disallow_is_a_reservation_for_every_ai_agent(server, fetcher):
    server.routes["/robots.txt"] = text("User-agent: *\nDisallow: /\n")
    server.routes["/p"] = page()
    report = check_consent(server.base + "/p", fetcher)
    assert report.status == "reserved"
    total = len(ai_agents())
    assert report.reasons[0].startswith(f"robots.txt disallows all {total} known AI agents (GPTBot, ClaudeBot")
    assert report.reasons[0].endswith("(through User-agent: *)")
    assert report.robots.provenance_audit_allowed is False
    assert report.page.error is not None  # our own agent may not fetch the page either
    assert "robots.txt disallows provenance-audit" in report.page.error


def test_unreadable_robots_txt_makes_the_answer_unknown(server, fetcher):
    server.routes["/robots.txt"] = Route(503, b"busy")
    server.routes["/p"] = page()
    report = check_consent(server.base + "/p", fetcher)
    assert report.status == "unknown"
    assert report.summary.startswith("unknown: page not fetched")
    assert "robots.txt unreachable (HTTP 503)" in report.summary


def test_unknown_yields_to_a_reservation(server, fetcher):
    server.routes["/robots.txt"] = Route(503, b"busy")
    server.routes["/.well-known/tdmrep.json"] = text('[{"location": "/", "tdm-reservation": 1}]')
    report = check_consent(server.base + "/p", fetcher)
    assert report.status == "reserved"
    assert report.summary == "tdm-reservation: 1 (tdmrep.json)"


def test_missing_page_is_recorded_not_raised(server, fetcher):
    report = check_consent(server.base + "/nowhere", fetcher)
    assert report.status == "unknown"
    assert "HTTP 404" in (report.page.error or "")


def test_unusable_urls_raise(server):
    with pytest.raises(UnsupportedSourceError):
        check_consent("ftp://example.com/", Fetcher())
    with pytest.raises(PrivateAddressError):
        check_consent(server.base + "/p", Fetcher())


def test_ai_txt_served_as_an_html_page_is_not_evaluated(server, fetcher):
    server.routes["/ai.txt"] = page("<!DOCTYPE html><html><body>Not found</body></html>")
    server.routes["/p.html"] = page()
    report = check_consent(server.base + "/p.html", fetcher)
    assert report.ai_txt.evaluated is False
    assert report.ai_txt.note == "an HTML page, not an ai.txt file"
    assert report.status == "not_reserved"


def test_invalid_tdmrep_json_is_noted(server, fetcher):
    server.routes["/.well-known/tdmrep.json"] = page("<html>soft 404</html>")
    server.routes["/p"] = page()
    report = check_consent(server.base + "/p", fetcher)
    assert report.tdmrep.problems == ("tdmrep.json is not JSON; ignored",)
    assert report.tdmrep.reservation is None


def test_content_usage_in_robots_txt_is_scoped_by_group_and_path(server, fetcher):
    server.routes["/robots.txt"] = text(
        "User-agent: Googlebot\nContent-Usage: train-ai=n\nAllow: /\n\n"
        "User-agent: *\nContent-Usage: /private/ train-ai=n\nContent-Usage: search=y\nAllow: /\n"
    )
    server.routes["/public"] = page()
    server.routes["/private/x"] = page()
    public = check_consent(server.base + "/public", fetcher)
    assert public.status == "not_reserved"
    assert [u.applies for u in public.usage] == [False, False, True]
    private = check_consent(server.base + "/private/x", fetcher)
    assert private.status == "reserved"
    assert private.reasons == ("Content-Usage: train-ai=n (robots.txt line 6)",)
    assert private.usage[1].path == "/private/"
    assert private.usage[1].groups == ("*",)


# --- the opt-out reference set (every signal type), served from a local server ---------------------


@needs_samples
def test_optout_reference_set(server, fetcher):
    reference = SAMPLES / "optout-reference"
    server.routes["/robots.txt"] = Route(body=(reference / "robots.txt").read_bytes(), headers=())
    server.routes["/ai.txt"] = Route(
        body=(reference / "ai.txt").read_bytes(), headers=(("Content-Type", "text/plain"),)
    )
    server.routes["/.well-known/tdmrep.json"] = Route(body=(reference / "tdmrep.json").read_bytes(), headers=())
    header_lines = [line.split(":", 1) for line in (reference / "headers.txt").read_text().splitlines() if line]
    meta = (reference / "meta-tags.html").read_text()
    server.routes["/work.html"] = page(
        f"<html><head>{meta}</head><body><p>Work.</p></body></html>",
        headers=tuple((name.strip(), value.strip()) for name, value in header_lines),
    )
    report = check_consent(server.base + "/work.html", fetcher)
    assert report.status == "reserved"
    assert report.summary.startswith("robots.txt disallows GPTBot, ClaudeBot, CCBot, Google-Extended and ")
    named = {v.agent for v in report.robots.disallowed}
    assert {"anthropic-ai", "Applebot-Extended", "Bytespider", "PerplexityBot", "omgili"} <= named
    assert all(v.group != "*" for v in report.robots.disallowed)
    assert (report.tdmrep.reservation, report.tdmrep.source) == (1, "meta")
    assert report.tdmrep.rule == {"location": "/", "tdm-reservation": 1}
    assert "X-Robots-Tag: noai" in report.reasons
    assert "meta robots: noai" in report.reasons
    assert "X-Robots-Tag: noimageai (images only)" in report.notes
    assert report.ai_txt.evaluated
    assert report.ai_txt.disallowed is True
    assert "ai.txt disallows this URL" in report.reasons


def test_page_with_an_unknown_charset_still_yields_its_meta_tags(server, fetcher):
    server.routes["/p"] = Route(
        body=b'<html><head><meta name="robots" content="noai"></head><body>x</body></html>',
        headers=(("Content-Type", "text/html; charset=x-made-up"),),
    )
    report = check_consent(server.base + "/p", fetcher)
    assert report.reasons == ("meta robots: noai",)
