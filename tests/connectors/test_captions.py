import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.captions import Transcript, parse_json3, parse_srt, parse_webvtt
from connectors.document import Cue
from connectors.errors import ReadError

SOURCE = "/talks/bread.vtt"

# Written like YouTube's automatic captions: word timings on the new line, each cue repeating the
# previous line, 10 ms cues that only hold the finished line, and a sound label.
BLANK = " "  # YouTube writes a line of one space where a cue has no second line
TIMED_1 = (
    "so<00:00:00.400><c> today</c><00:00:00.800><c> we</c><00:00:01.200><c> bake</c>"
    "<c.colorE5E5E5><00:00:01.600><c> bread</c></c>"
)
TIMED_2 = "first<00:00:02.500><c> you</c><00:00:03.000><c> mix</c><00:00:03.500><c> the</c><00:00:03.800><c> flour</c>"
TIMED_3 = "then<00:00:06.500><c> let</c><00:00:07.000><c> it</c><00:00:07.500><c> rest</c>"


def cue(start: str, end: str, *lines: str) -> str:
    return f"{start} --> {end} align:start position:0%\n" + "\n".join(lines)


AUTO_CAPTIONS = "WEBVTT\nKind: captions\nLanguage: en\n\n" + "\n\n".join(
    [
        cue("00:00:00.000", "00:00:02.000", BLANK, TIMED_1),
        cue("00:00:02.000", "00:00:02.010", "so today we bake bread", BLANK),
        cue("00:00:02.010", "00:00:04.000", "so today we bake bread", TIMED_2),
        cue("00:00:04.000", "00:00:04.010", "first you mix the flour", BLANK),
        cue("00:00:04.010", "00:00:06.000", "first you mix the flour", "[Music]"),
        cue("00:00:06.000", "00:00:06.010", "[Music]", BLANK),
        cue("00:00:06.010", "00:00:08.000", "[Music]", TIMED_3),
    ]
)


def slices(transcript: Transcript) -> list[str]:
    return [transcript.text[c.char_start : c.char_end] for c in transcript.cues]


def assert_well_formed(transcript: Transcript) -> None:
    end = 0
    for cue in transcript.cues:
        assert end <= cue.char_start < cue.char_end <= len(transcript.text)
        end = cue.char_end


def test_tags_and_entities_are_cleaned_and_cues_map_to_text():
    vtt = """WEBVTT

intro
00:00:01.000 --> 00:00:03.500
<v Ada>Fish &amp; <i>chips</i></v>
<c.yellow>&lt;3</c> tonight

00:00:04.000 --> 00:00:06.000 line:0
  Plenty   of&nbsp;vinegar, <b>please</b>.
"""
    transcript = parse_webvtt(vtt, SOURCE)
    assert transcript.text == "Fish & chips <3 tonight Plenty of vinegar, please."
    assert transcript.cues == (Cue(0, 23, 1.0, 3.5), Cue(24, 50, 4.0, 6.0))
    assert slices(transcript) == ["Fish & chips <3 tonight", "Plenty of vinegar, please."]
    assert transcript.warnings == ()


def test_rolling_auto_captions_keep_each_spoken_line_once():
    transcript = parse_webvtt(AUTO_CAPTIONS, SOURCE)
    assert transcript.text == "so today we bake bread first you mix the flour then let it rest"
    assert slices(transcript) == ["so today we bake bread", "first you mix the flour", "then let it rest"]
    assert [(c.start_s, c.end_s) for c in transcript.cues] == [
        (0.0, 2.0),
        (2.01, 4.0),
        (6.01, 8.0),
    ]


@pytest.mark.parametrize("label", ["[Music]", "[Applause]", "(laughs)", "♪♪", "[Music] [Applause]"])
def test_sound_label_cues_are_left_out(label):
    vtt = (
        "WEBVTT\n\n00:01.000 --> 00:02.000\nhello\n\n"
        f"00:02.000 --> 00:03.000\n{label}\n\n00:03.000 --> 00:04.000\nagain\n"
    )
    transcript = parse_webvtt(vtt, SOURCE)
    assert transcript.text == "hello again"
    assert [c.start_s for c in transcript.cues] == [1.0, 3.0]


def test_identical_consecutive_cues_in_manual_captions_are_both_kept():
    vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\nNo.\n\n00:02.000 --> 00:03.000\nNo.\n"
    assert parse_webvtt(vtt, SOURCE).text == "No. No."


def test_cues_are_put_in_time_order():
    vtt = "WEBVTT\n\n00:05.000 --> 00:06.000\nsecond\n\n00:01.000 --> 00:02.000\nfirst\n"
    transcript = parse_webvtt(vtt, SOURCE)
    assert transcript.text == "first second"
    assert [c.start_s for c in transcript.cues] == [1.0, 5.0]


def test_header_only_webvtt_is_an_empty_transcript():
    assert parse_webvtt("WEBVTT\n\nNOTE nothing said yet\n", SOURCE) == Transcript("", ())


def test_srt_with_formatting_and_override_tags():
    srt = """1
00:00:01,000 --> 00:00:02,500
{\\an8}<i>Where were you</i>
last night?

2
00:00:03,000 --> 00:00:04,000
<font color="#ffff00">At the bakery.</font>
"""
    transcript = parse_srt(srt, "/talks/bread.srt")
    assert transcript.text == "Where were you last night? At the bakery."
    assert slices(transcript) == ["Where were you last night?", "At the bakery."]
    assert transcript.cues[0] == Cue(0, 26, 1.0, 2.5)


def test_srt_with_leading_blank_lines_is_read():
    assert parse_srt("\n\n1\n00:00:01,000 --> 00:00:02,000\nhi\n", "a.srt").text == "hi"


def test_missing_webvtt_header_is_a_read_error_naming_the_file():
    with pytest.raises(ReadError) as info:
        parse_webvtt("00:01.000 --> 00:02.000\nhello\n", SOURCE)
    assert info.value.source == SOURCE
    assert "WEBVTT" in info.value.reason


def test_text_that_is_not_srt_is_a_read_error():
    with pytest.raises(ReadError, match=r"^/talks/notes\.srt: not an SRT file"):
        parse_srt("Just some notes, no cues at all.\n", "/talks/notes.srt")


def test_only_unreadable_timings_is_a_read_error():
    vtt = "WEBVTT\n\n00:0x.000 --> 00:02.000\nhello\n"
    with pytest.raises(ReadError, match="no readable cues"):
        parse_webvtt(vtt, SOURCE)


def test_one_unreadable_cue_is_skipped_with_a_warning():
    vtt = "WEBVTT\n\n00:0x.000 --> 00:02.000\nlost\n\n00:03.000 --> 00:04.000\nkept\n"
    transcript = parse_webvtt(vtt, SOURCE)
    assert transcript.text == "kept"
    assert transcript.warnings == (f"{SOURCE}: line 3: unreadable cue timings '00:0x.000 --> 00:02.000'; cue skipped",)


# A cue-text token as written in the file, and as it reads once cleaned.
TOKENS = st.one_of(
    st.text(alphabet="abcdefgxyz", min_size=1, max_size=6).map(lambda w: (w, w)),
    st.text(alphabet="abcxyz", min_size=1, max_size=4).map(lambda w: (f"<i>{w}</i>", w)),
    st.text(alphabet="abcxyz", min_size=1, max_size=4).map(lambda w: (f"<c.red>{w}</c>", w)),
    st.sampled_from([("&amp;", "&"), ("&lt;b&gt;", "<b>"), ("<00:00:00.500>", "")]),
)
LINE = st.lists(TOKENS, min_size=1, max_size=5)
CUES = st.lists(st.lists(LINE, min_size=1, max_size=3), min_size=1, max_size=8)


@given(CUES)
def test_cue_offsets_always_slice_the_cleaned_text_of_their_cue(cues):
    blocks, expected = [], []
    for i, lines in enumerate(cues):
        raw_lines, clean_lines = [], []
        for j, tokens in enumerate(lines):
            marker = f"n{i}x{j}"  # keeps lines distinct, so nothing looks like rolling captions
            raw_lines.append(" ".join([*(raw for raw, _ in tokens), marker]))
            clean_lines.append(" ".join([*(clean for _, clean in tokens if clean), marker]))
        blocks.append(f"00:00:{i:02d}.000 --> 00:00:{i:02d}.900\n" + "\n".join(raw_lines))
        expected.append(" ".join(clean_lines))
    transcript = parse_webvtt("WEBVTT\n\n" + "\n\n".join(blocks) + "\n", SOURCE)
    assert_well_formed(transcript)
    assert slices(transcript) == expected
    assert transcript.text == " ".join(expected)
    assert [c.start_s for c in transcript.cues] == [float(i) for i in range(len(cues))]


@given(st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=5), min_size=1, max_size=8))
def test_rolling_captions_give_each_line_once(words):
    lines = [f"{word} line{i}" for i, word in enumerate(words)]
    blocks = [f"00:00:00.000 --> 00:00:01.000\n{lines[0]}"]
    for i in range(1, len(lines)):
        blocks.append(f"00:00:{i:02d}.000 --> 00:00:{i:02d}.010\n{lines[i - 1]}")
        blocks.append(f"00:00:{i:02d}.010 --> 00:00:{i + 1:02d}.000\n{lines[i - 1]}\n{lines[i]}")
    transcript = parse_webvtt("WEBVTT\n\n" + "\n\n".join(blocks) + "\n", SOURCE)
    assert_well_formed(transcript)
    assert slices(transcript) == lines


# json3, YouTube's own caption format: manual tracks have one event per caption with line breaks inside;
# automatic ones time each word (tOffsetMs), start new lines with aAppend events and keep a line on
# screen while the next one is spoken.
def json3(*events: dict) -> str:
    return json.dumps({"wireMagic": "pb3", "pens": [{}], "events": list(events)})


MANUAL_JSON3 = json3(
    {"tStartMs": 160, "dDurationMs": 4520, "segs": [{"utf8": "Welcome back to\nthe\u00a0bakery"}]},
    {"tStartMs": 4680, "dDurationMs": 2000, "segs": [{"utf8": "[Music]"}]},
    {"tStartMs": 6680, "dDurationMs": 3000, "segs": [{"utf8": "Today: rye  &amp; <i>spelt</i>. "}]},
)

AUTO_JSON3 = json3(
    {"tStartMs": 0, "dDurationMs": 8000, "id": 1, "wpWinPosId": 1, "wsWinStyleId": 1},
    {
        "tStartMs": 0,
        "dDurationMs": 4000,
        "wWinId": 1,
        "segs": [
            {"utf8": "so", "acAsrConf": 0},
            {"utf8": " today", "tOffsetMs": 400, "acAsrConf": 0},
            {"utf8": " we", "tOffsetMs": 800, "acAsrConf": 0},
            {"utf8": " bake", "tOffsetMs": 1200, "acAsrConf": 0},
        ],
    },
    {"tStartMs": 2010, "dDurationMs": 1990, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": "\n"}]},
    {"tStartMs": 2010, "dDurationMs": 4000, "segs": [{"utf8": "bread"}, {"utf8": " first", "tOffsetMs": 500}]},
    {"tStartMs": 4020, "dDurationMs": 2000, "wWinId": 1, "segs": [{"utf8": "[Music]"}]},
    {"tStartMs": 6030, "dDurationMs": 1970, "segs": [{"utf8": "then"}, {"utf8": " rest", "tOffsetMs": 300}]},
)


def test_json3_manual_captions_keep_text_and_exact_offsets():
    transcript = parse_json3(MANUAL_JSON3, "/talks/bread.en.json3")
    # json3 is plain text: entities and angle brackets are the speaker's own characters
    assert transcript.text == "Welcome back to the bakery Today: rye &amp; <i>spelt</i>."
    assert transcript.cues == (Cue(0, 26, 0.16, 4.68), Cue(27, 57, 6.68, 9.68))
    assert slices(transcript) == ["Welcome back to the bakery", "Today: rye &amp; <i>spelt</i>."]
    assert transcript.warnings == ()


def test_json3_automatic_captions_join_word_segments_and_clamp_overlaps():
    transcript = parse_json3(AUTO_JSON3, "auto.json3")
    assert transcript.text == "so today we bake bread first then rest"
    assert slices(transcript) == ["so today we bake", "bread first", "then rest"]
    # each line ends where the next one (or the [Music] label) starts
    assert [(c.start_s, c.end_s) for c in transcript.cues] == [(0.0, 2.01), (2.01, 4.02), (6.03, 8.0)]
    assert_well_formed(transcript)


def test_json3_events_are_put_in_time_order():
    text = json3(
        {"tStartMs": 5000, "dDurationMs": 1000, "segs": [{"utf8": "second"}]},
        {"tStartMs": 1000, "dDurationMs": 1000, "segs": [{"utf8": "first"}]},
    )
    transcript = parse_json3(text, "x.json3")
    assert transcript.text == "first second"
    assert [c.start_s for c in transcript.cues] == [1.0, 5.0]


def test_json3_without_text_is_an_empty_transcript():
    assert parse_json3(json3({"tStartMs": 0, "dDurationMs": 10, "id": 1}), "x.json3") == Transcript("", ())
    assert parse_json3('{"events": []}', "x.json3") == Transcript("", ())


def test_json3_event_without_start_is_skipped_with_a_warning():
    text = json3({"dDurationMs": 10, "segs": [{"utf8": "lost"}]}, {"tStartMs": 0, "segs": [{"utf8": "kept"}]})
    transcript = parse_json3(text, "x.json3")
    assert transcript.text == "kept"
    assert transcript.cues == (Cue(0, 4, 0.0, 0.0),)
    assert transcript.warnings == ("x.json3: event 1: text without a start time (tStartMs); cue skipped",)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("WEBVTT\n\n00:01.000 --> 00:02.000\nhi\n", "invalid JSON"),
        ('{"wireMagic": "pb3"}', "no events list"),
        ("[1, 2]", "no events list"),
        (json3({"segs": [{"utf8": "untimed"}]}), "no readable cues"),
    ],
)
def test_text_that_is_not_json3_is_a_read_error_naming_the_source(text, reason):
    with pytest.raises(ReadError, match=reason) as info:
        parse_json3(text, "/talks/x.json3")
    assert info.value.source == "/talks/x.json3"


WORDS = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@given(st.lists(st.lists(st.lists(WORDS, min_size=1, max_size=4), min_size=1, max_size=3), min_size=1, max_size=8))
def test_json3_cue_offsets_always_slice_the_text_of_their_event(events):
    raw, expected = [], []
    for i, lines in enumerate(events):
        text = "\n".join("  ".join(words) for words in lines)
        segs = [{"utf8": part} for part in re.split(r"(?<= )", text)]  # split anywhere, as word segments are
        raw.append({"tStartMs": 1000 * i, "dDurationMs": 900, "segs": segs})
        expected.append(" ".join(" ".join(words) for words in lines))
    transcript = parse_json3(json3(*raw), SOURCE)
    assert_well_formed(transcript)
    assert slices(transcript) == expected
    assert [(c.start_s, c.end_s) for c in transcript.cues] == [(float(i), i + 0.9) for i in range(len(events))]
