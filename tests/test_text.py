"""html_to_text: the HTML in feed items read as the plain text people see and rules match."""

from __future__ import annotations

import pytest

from sources.text import html_to_text


def test_paragraphs_become_blank_line_separated_text() -> None:
    markup = "<p>Acme is <b>down</b> again.</p>\n<p>Second   paragraph,\n wrapped.</p>"

    assert html_to_text(markup) == "Acme is down again.\n\nSecond paragraph, wrapped."


def test_preformatted_text_keeps_its_lines() -> None:
    assert html_to_text("<p>Log:</p><pre>error 1\nerror 2</pre>") == "Log:\n\nerror 1\nerror 2"


def test_line_breaks_and_list_items_start_new_lines() -> None:
    assert html_to_text("one<br>two<br/>three") == "one\ntwo\nthree"
    assert html_to_text("Issues:<ul><li>login</li><li>billing</li></ul>") == (
        "Issues:\n\nlogin\nbilling"
    )


def test_table_cells_and_sections_do_not_run_words_together() -> None:
    table = (
        "<table><tr><th>Service</th><th>Status</th></tr><tr><td>Acme</td><td>down</td></tr></table>"
    )

    assert html_to_text(table) == "Service Status\nAcme down"
    assert html_to_text("<section>Acme</section><article>rocks</article>") == "Acme\n\nrocks"
    assert html_to_text("<dl><dt>Acme</dt><dd>outage</dd></dl>") == "Acme\noutage"


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>Tom &amp; Jerry &lt;3 Acme</p>", "Tom & Jerry <3 Acme"),
        ("<p>caf&eacute; &#8212; &#x2014; &quot;quoted&quot;</p>", 'café — — "quoted"'),
        ("<p>Acme&nbsp;Cloud</p>", "Acme Cloud"),  # so "Acme Cloud" as a term still matches
        ("Acme&nbsp;&nbsp;Cloud &amp; more", "Acme Cloud & more"),
    ],
)
def test_entities_are_decoded(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_scripts_styles_and_comments_are_dropped_with_their_content() -> None:
    markup = (
        "<style>p { color: red }</style><p>Visible</p>"
        "<script>if (a < b) { steal(document.cookie) }</script>"
        "<noscript>enable JS</noscript><template>hidden</template><!-- secret -->"
        "<iframe>frame</iframe><p>text</p><script/>still here"
    )

    text = html_to_text(markup)

    assert text == "Visible\n\ntext\n\nstill here"
    assert "cookie" not in text
    assert "red" not in text


@pytest.mark.parametrize(
    "plain",
    ["Acme is great", "x < y and a > b", "Acme <3 you", "AT&T and Acme", "5 > 3", ""],
)
def test_plain_text_passes_through(plain: str) -> None:
    assert html_to_text(plain) == plain


def test_plain_text_spaces_are_tidied() -> None:
    assert html_to_text("  Acme\t\tis   here \n\n\n\n next  ") == "Acme is here\n\nnext"


def test_a_summary_cut_off_mid_tag_drops_the_half_tag() -> None:
    assert html_to_text('<p>Acme raised prices. Read <a href="https://exam') == (
        "Acme raised prices. Read"
    )


def test_unclosed_tags_keep_their_text() -> None:
    assert html_to_text("<p>Acme <b>bold <i>and italic") == "Acme bold and italic"
