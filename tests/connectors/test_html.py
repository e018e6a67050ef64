import pytest

from connectors.html import Extracted, extract_html, visible_text

PARAGRAPHS = [
    (
        "The old mill on the river had been grinding flour for nearly two hundred years when the "
        "family finally decided to open its doors to visitors, and the first summer brought more "
        "people than the village had seen in a decade."
    ),
    (
        "Inside, the great wheel still turns with the current. The miller explains how the stones "
        "are dressed by hand every few weeks, a craft that takes years to learn and that only a "
        "handful of people in the region still practise today."
    ),
    (
        "Visitors can buy the flour in small paper bags, and the bakery next door uses nothing else "
        "for its bread, which sells out most mornings before nine o'clock even in the quiet months "
        "of the winter season."
    ),
    (
        "Next year the family hopes to restore the second wheel, which has stood still since a "
        "flood damaged its axle, and to offer short courses in milling for anyone patient enough "
        "to learn the trade properly."
    ),
]

ARTICLE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>The Mill Reopens | Valley Gazette</title>
  <meta property="og:title" content="The Mill Reopens">
  <style>body {{ font-family: serif; }}</style>
  <script>window.analytics = "tracking code";</script>
</head>
<body>
  <header>
    <nav><ul><li><a href="/">Home</a></li><li><a href="/news">News desk</a></li>
    <li><a href="/sport">Sport pages</a></li><li><a href="/subscribe">Subscribe today</a></li></ul></nav>
  </header>
  <main>
    <article>
      <h1>The Mill Reopens</h1>
      <p>{PARAGRAPHS[0]}</p>
      <p>{PARAGRAPHS[1]}</p>
      <p>{PARAGRAPHS[2].replace("&", "&amp;")}</p>
      <p>{PARAGRAPHS[3]}</p>
    </article>
    <section class="comments" id="comments">
      <h2>Comments</h2>
      <div class="comment"><p>Great article, visited last week and loved the scones!</p></div>
    </section>
  </main>
  <aside class="sidebar"><h3>Most read</h3><ul><li><a href="/a">Council vote delayed again</a></li></ul></aside>
  <footer><p>Copyright Valley Gazette. All rights reserved. Privacy policy.</p></footer>
</body>
</html>
"""


def test_article_text_without_navigation_comments_or_footer():
    result = extract_html(ARTICLE, "/site/mill.html")
    lines = result.text.split("\n")
    for paragraph in PARAGRAPHS:
        assert paragraph in lines
    for boilerplate in ("News desk", "Subscribe today", "scones", "Council vote", "Privacy policy"):
        assert boilerplate not in result.text
    assert "tracking code" not in result.text
    assert "font-family" not in result.text


def test_article_title_comes_from_the_metadata():
    assert extract_html(ARTICLE, "/site/mill.html").title in {
        "The Mill Reopens",
        "The Mill Reopens | Valley Gazette",
    }


def test_small_page_falls_back_to_all_visible_text():
    page = """<html><head><title>  Opening
    hours </title><script>var x = "hidden";</script></head>
    <body><h1>Hours</h1><ul><li>Open <b>daily</b> 9&ndash;5</li><li>Closed Mondays</li></ul>
    </body></html>"""
    assert extract_html(page, "hours.html") == Extracted("Hours\nOpen daily 9–5\nClosed Mondays", "Opening hours")


def test_lists_and_tables_have_no_markup_symbols():
    items = "".join(f"<li>Step {n}: knead the dough for another minute or two.</li>" for n in range(6))
    rows = "".join(f"<tr><td>Loaf {n}</td><td></td><td>{n * 100} g</td></tr>" for n in range(3))
    page = f"""<html><head><title>Recipe</title></head><body><article>
    <h1>Country loaf</h1>
    <p>{PARAGRAPHS[0]}</p><ul>{items}</ul>
    <table><tr><th>Name</th><th>Note</th><th>Weight</th></tr>{rows}</table>
    <p>{PARAGRAPHS[1]}</p></article></body></html>"""
    text = extract_html(page, "recipe.html").text
    lines = text.split("\n")
    assert "Step 3: knead the dough for another minute or two." in lines
    assert "Loaf 2\t\t200 g" in lines
    assert "|" not in text
    assert not any(line.startswith("- ") for line in lines)


def test_code_blocks_keep_their_layout():
    page = f"""<html><body><article><p>{PARAGRAPHS[0]}</p>
    <pre><code>def rise(dough):
    return dough * 2
</code></pre><p>{PARAGRAPHS[1]}</p></article></body></html>"""
    assert "def rise(dough):\n    return dough * 2" in extract_html(page, "code.html").text


def test_xhtml_with_an_xml_declaration():
    page = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>X</title></head>'
        "<body><p>Short page.</p></body></html>"
    )
    assert extract_html(page, "x.xhtml") == Extracted("Short page.", "X")


@pytest.mark.parametrize("page", ["", "   ", "<html></html>", "<!-- only a comment -->"])
def test_pages_without_text_give_empty_text(page):
    assert extract_html(page, "empty.html").text == ""


def test_page_without_title_has_empty_title():
    assert extract_html("<p>Untitled note.</p>", "note.html") == Extracted("Untitled note.", "")


def test_visible_text_of_a_fragment():
    fragment = "<div>\n  first <em>line</em>\n</div><!-- hidden --><p>second<br>third</p>"
    assert visible_text(fragment) == "first line\nsecond\nthird"
