import gzip
import json
from datetime import datetime, timezone

from indexes import NewWork
from indexes.maintenance import remove_works
from provenance.catalog import CatalogRow, catalog_rows, count_rows
from provenance.inputs import InputFailure

HEADER = "Source,Author,Rights Holder,License,Consent,Catalog ID,ISWC\n"


def read(path):
    found = list(catalog_rows(path))
    return [r for r in found if isinstance(r, CatalogRow)], [
        (f.source, f.reason) for f in found if isinstance(f, InputFailure)
    ]


def test_a_csv_catalog_with_every_kind_of_source_and_bad_rows_by_line(tmp_path):
    (tmp_path / "works").mkdir()
    (tmp_path / "works" / "essay.md").write_text("# An essay\n\nSome words.")
    path = tmp_path / "catalog.csv"
    path.write_text(
        HEADER
        + "works/essay.md,Ann Author,North Press,CC-BY-4.0,,N-1,T-1\n"
        + "https://example.org/story,Bob,South Ltd,,opt-out,N-2,\n"
        + "dQw4w9WgXcQ,Cy,Tube Rights,,granted,N-3,\n"
        + "works/missing.md,Dee,North Press,,reserved,N-4,\n"
        + "ftp://example.org/x,Eve,North Press,,reserved,N-5,\n"
        + "https://example.org/other,,North Press,,reserved,N-6,\n"
        + "https://example.org/other,Fay,North Press,,,N-7,\n"
        + "https://example.org/other,Gus,North Press,,maybe,N-8,\n"
        + "https://example.org/story,Hal,South Ltd,,reserved,N-9,\n"
        + "https://example.org/third,Ida,South Ltd,,reserved,N-2,\n"
        + "https://example.org/fourth,Jo,South Ltd,,reserved\n"
        + "\n"
        + '"https://example.org/fifth","Kim, Jr.",South Ltd,,unknown,N-12,\n'
    )
    rows, bad = read(path)
    assert [(r.line, r.source, r.creator, r.org_id) for r in rows] == [
        (2, str(tmp_path / "works" / "essay.md"), "Ann Author", "N-1"),
        (3, "https://example.org/story", "Bob", "N-2"),
        (4, "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "Cy", "N-3"),
        (14, "https://example.org/fifth", "Kim, Jr.", "N-12"),
    ]
    assert rows[0].licence == "CC-BY-4.0"
    assert rows[0].extra == {"iswc": "T-1"}
    assert (rows[1].consent, rows[2].consent) == ("reserved", "granted")
    p = str(path)
    assert bad == [
        (f"{p}:5", "source 'works/missing.md' is not a URL, a YouTube video id or an existing file"),
        (f"{p}:6", "source 'ftp://example.org/x' is a URL of an unsupported scheme (http and https only)"),
        (f"{p}:7", "missing creator"),
        (f"{p}:8", "give a licence or a consent status (or both)"),
        (f"{p}:9", "consent 'maybe' is not one of granted, not_reserved, reserved, unknown"),
        (f"{p}:10", "source 'https://example.org/story' is already on line 3"),
        (f"{p}:11", "org_id 'N-2' is already on line 3"),
        (f"{p}:12", "has 5 fields, the header has 7"),
    ]


def test_a_json_lines_catalog(tmp_path):
    path = tmp_path / "catalog.jsonl.gz"
    lines = [
        json.dumps({"url": "https://example.org/a", "creator": "Ann", "rights_holder": "N", "licence": "x", "id": 17}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"url": "https://example.org/b", "creator": {"name": "B"}, "rights_holder": "N", "id": 2}),
        "",
        json.dumps(
            {"url": "https://example.org/c", "creator": "Cy", "rightsholder": "N", "consent": "Opt In", "id": 3}
        ),
    ]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    rows, bad = read(path)
    assert [(r.line, r.org_id, r.consent) for r in rows] == [(1, "17", None), (6, "3", "granted")]
    assert bad == [
        (f"{path}:2", "invalid JSON (Expecting property name enclosed in double quotes)"),
        (f"{path}:3", "not a JSON object"),
        (f"{path}:4", "creator is not text (dict)"),
    ]


def test_a_header_without_a_required_column_is_one_failure(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("source,creator,licence\nhttps://example.org/a,Ann,x\n")
    assert read(path) == (
        [],
        [(str(path), "the header has no column rights_holder, org_id (columns: source, creator, licence)")],
    )


def test_a_row_that_is_not_utf8_is_reported_and_the_rest_read(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(
        HEADER.encode()
        + "https://example.org/a,Zo\xeb,N,,reserved,1,\n".encode("latin-1")
        + b"https://example.org/b,Ann,N,,reserved,2,\n"
    )
    rows, bad = read(path)
    assert [r.org_id for r in rows] == ["2"]
    assert bad == [(f"{path}:2", "not valid UTF-8")]


def test_a_missing_catalog_is_one_failure(tmp_path):
    ((source, reason),) = read(tmp_path / "nope.csv")[1]
    assert source == str(tmp_path / "nope.csv")
    assert reason.startswith("cannot read the catalog")


def test_works_carry_the_rows_creator_rights_holder_licence_and_id(store):
    row = CatalogRow(
        line=2,
        source="https://example.org/a",
        creator="Ann",
        rights_holder="North Press",
        org_id="N-1",
        licence="CC-BY-4.0",
        consent="reserved",
        extra={"iswc": "T-1"},
    )
    text = " ".join(f"word{i}" for i in range(200))
    fetched = NewWork(
        source=row.source,
        kind="web",
        title="A",
        text=text,
        content_sha256="c",
        text_sha256="t",
        retrieved_at=datetime.now(timezone.utc),
        creator="someone the page named",
        metadata={"url": row.source},
    )
    _, work_id = store.add_work(row.apply(fetched))
    record = store.work(work_id)
    assert record.creator == "Ann"
    assert (record.rights_holder, record.org_id, record.licence) == ("North Press", "N-1", "CC-BY-4.0")
    assert record.metadata == {
        "url": "https://example.org/a",
        "rights_holder": "North Press",
        "org_id": "N-1",
        "licence": "CC-BY-4.0",
        "consent_status": "reserved",
        "catalog_iswc": "T-1",
    }
    assert remove_works(store, rights_holder="North Press") == 1


def test_rows_are_counted_for_a_progress_bar(tmp_path):
    csv_path = tmp_path / "c.csv"
    csv_path.write_text(HEADER + "a,b,c,,x,1,\n\n" + "d,e,f,,x,2,\n")
    jsonl = tmp_path / "c.jsonl.gz"
    jsonl.write_bytes(gzip.compress(b'{"a": 1}\n\n{"a": 2}\n{"a": 3}'))
    assert count_rows(csv_path) == 2
    assert count_rows(jsonl) == 3
    assert count_rows(tmp_path / "missing.csv") is None
