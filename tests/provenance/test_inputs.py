import io
import json

from provenance.inputs import InputFailure, InputOptions, ScanItem, read_inputs


def test_jsonl_records_with_ids_and_failures_per_line(tmp_path):
    path = tmp_path / "outputs.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "first record"}),
        "{not json",
        json.dumps({"id": "b"}),
        json.dumps({"id": "c", "text": 42}),
        json.dumps(["not", "an", "object"]),
        "",
        json.dumps({"id": "a", "text": "duplicate id"}),
        json.dumps({"id": "d", "text": "   "}),
        json.dumps({"id": "e", "text": "last record"}),
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    items = list(read_inputs([str(path)], InputOptions(id_field="id")))
    ok = [i for i in items if isinstance(i, ScanItem)]
    failed = [str(i) for i in items if isinstance(i, InputFailure)]
    assert [i.record_id for i in ok] == ["a", "e"]
    assert ok[0].scanned == f"{path}#a"
    assert failed == [
        f"{path}:2: invalid JSON (Expecting property name enclosed in double quotes)",
        f"{path}:3: field 'text' is missing",
        f"{path}:4: field 'text' is not a string (int)",
        f"{path}:5: record is not a JSON object",
        f"{path}:7: duplicate record id 'a'",
        f"{path}#d: empty text",
    ]


def test_record_id_defaults_to_line_number(tmp_path):
    path = tmp_path / "x.ndjson"
    path.write_text('{"content": "hello there"}\n{"content": "again"}\n', encoding="utf-8")
    items = list(read_inputs([str(path)], InputOptions(field="content")))
    assert [i.scanned for i in items] == [f"{path}#1", f"{path}#2"]


def test_stdin_text_and_jsonl():
    (item,) = read_inputs(["-"], InputOptions(), stdin=io.BytesIO(b"some text from a pipe"))
    assert isinstance(item, ScanItem)
    assert item.scanned == "<stdin>"
    assert item.text == "some text from a pipe"
    items = list(read_inputs(["-"], InputOptions(jsonl=True), stdin=io.BytesIO(b'{"text": "x y"}\n')))
    assert [i.scanned for i in items] == ["<stdin>#1"]
    (empty,) = read_inputs(["-"], InputOptions(), stdin=io.BytesIO(b"  \n"))
    assert isinstance(empty, InputFailure)


def test_missing_path_fails_alone(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("good text here", encoding="utf-8")
    items = list(read_inputs([str(tmp_path / "missing.txt"), str(good)], InputOptions()))
    assert isinstance(items[0], InputFailure)
    assert "missing.txt" in str(items[0])
    assert isinstance(items[1], ScanItem)


def test_folder_mixes_text_files_and_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text("plain text file", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"text": "record one"}\n', encoding="utf-8")
    scanned = [i.scanned for i in read_inputs([str(tmp_path)], InputOptions()) if isinstance(i, ScanItem)]
    assert scanned == [str(tmp_path / "a.txt"), f"{tmp_path / 'b.jsonl'}#1"]
