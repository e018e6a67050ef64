import pytest

from connectors.html import Extracted
from connectors.markdown import markdown_to_text

DOC = """# Baking *bread* at home

Flour, water and [salt](https://example.com/salt "Salt") are all you need; ![a loaf](loaf.png)
a warm kitchen helps &amp; so does `patience`.

## Steps

- Mix the **dough**
- Let it rise
  - overnight is best

1. Shape it

   Then wait an hour.

> Bread is the warmest, kindest of words.
> Write it always with a capital letter.

```python
def bake(loaf):
    return loaf
```

| Loaf | Weight |
|------|--------|
| Small | 500 g |
| | 1 kg |

<div class="note">
Keep the <em>starter</em> fed.
</div>

<!-- a note to myself -->

***

Setext heading
--------------
"""

EXPECTED = """Baking bread at home

Flour, water and salt are all you need;
a warm kitchen helps & so does patience.

Steps

Mix the dough
Let it rise
overnight is best

Shape it

Then wait an hour.

Bread is the warmest, kindest of words.
Write it always with a capital letter.

def bake(loaf):
    return loaf

Loaf\tWeight
Small\t500 g
\t1 kg

Keep the starter fed.

Setext heading"""


def test_plain_text_of_every_block_kind():
    assert markdown_to_text(DOC) == Extracted(EXPECTED, "Baking bread at home")


def test_no_markup_symbols_link_targets_or_images_remain():
    text = markdown_to_text(DOC).text
    for leftover in ("#", "*", "](", "https://", "loaf.png", "a loaf", "```", "|", "<div", "<!--"):
        assert leftover not in text


def test_title_is_the_first_heading_whatever_its_level():
    assert markdown_to_text("Intro text.\n\n### Small heading\n\n# Big\n").title == "Small heading"


def test_no_heading_means_no_title():
    assert markdown_to_text("Just a paragraph.") == Extracted("Just a paragraph.", "")


def test_front_matter_is_metadata_and_gives_the_title():
    md = '---\ntitle: "Sourdough notes"\ntags: [bread]\n---\n## First week\n\nFed the starter.\n'
    assert markdown_to_text(md) == Extracted("First week\n\nFed the starter.", "Sourdough notes")


def test_a_leading_thematic_break_is_not_front_matter():
    md = "---\nNot front matter\n---\n\nBody.\n"
    assert markdown_to_text(md).text == "Not front matter\n\nBody."


@pytest.mark.parametrize("md", ["", "   \n\n", "<!-- only a comment -->", "![just an image](x.png)"])
def test_documents_without_words_give_empty_text(md):
    assert markdown_to_text(md).text == ""


def test_escapes_and_entities_become_the_characters_they_stand_for():
    assert markdown_to_text(r"5 \* 3 &lt; 20 &copy; me").text == "5 * 3 < 20 © me"
