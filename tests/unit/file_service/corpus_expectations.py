"""What each corpus document must give at the default limits (25 to 10,000 words), and how its
text is compared with the upstream expected output where there is one."""

from __future__ import annotations

from enum import Enum


class ExpectedText(Enum):
    """How our text is compared with an upstream expectation."""

    EXACT = "equal after normalising whitespace"
    CLOSE = "word sequences at least 99% similar"
    MOSTLY = "at least 88% of the expected words, in order"
    ARTICLE_IN_PAGE = "the expected article's words, in order, inside our page text"
    SAME_WORDS_OTHER_ORDER = "at least 95% of the expected words, in any order"
    OURS_INSIDE = "our words, in order, inside the expectation"


# Where the comparison is not exact, and why.
TEXT_CHECKS: dict[str, ExpectedText] = {
    # pypdf keeps line-end hyphenation ("church- key"); textract's tool joined it.
    "pdf/textract_raw_text.pdf": ExpectedText.CLOSE,
    # textract's expectation is layout mode (both columns interleaved line by line); we read
    # column by column, which is the order a person reads.
    "pdf/textract_two_column.pdf": ExpectedText.SAME_WORDS_OTHER_ORDER,
    # textract kept a literal "&amp;" and a few hidden-by-CSS snippets.
    "html/textract_raw_text.html": ExpectedText.CLOSE,
    # textract draws table borders and includes navboxes that the page hides.
    "html/textract_tables.html": ExpectedText.MOSTLY,
    # upstream's expectation appends a second, escaped rendering of the same document.
    "rtf/striprtf_encoding.rtf": ExpectedText.OURS_INSIDE,
    **{
        f"html/readability_{name}.html": ExpectedText.ARTICLE_IN_PAGE
        for name in (
            "bbc-1",
            "blogger",
            "daringfireball-1",
            "dropbox-blog",
            "firefox-nightly-blog",
            "gitlab-blog",
            "ietf-1",
            "lwn-1",
            "mozilla-1",
            "nytimes-1",
            "seattletimes-1",
            "v8-blog",
            "wordpress",
            "webmd-1",
            "mercurial",
            "lemonde-1",
            "hukumusume",
            "qq",
        )
    },
}

EXPECTED_OUTCOMES: dict[str, str] = {
    "pdf/sf001_minimal-document.pdf": "ACCEPTED",  # text
    "pdf/sf002_trivial-libre-office-writer.pdf": "ACCEPTED",  # text
    "pdf/sf004_pdflatex-4-pages.pdf": "ACCEPTED",  # multi-page
    "pdf/sf005_libreoffice-writer-password.pdf": "ENCRYPTED_FILE_UNSUPPORTED",  # user password
    "pdf/sf007_imagemagick-images.pdf": "NO_TEXT_LAYER",  # image-only
    "pdf/sf007_imagemagick-CCITTFaxDecode.pdf": "NO_TEXT_LAYER",  # image-only
    "pdf/sf009_GeoTopo-komprimiert.pdf": "CONTENT_TOO_LONG",  # multi-page-large
    "pdf/sf010_pdflatex-forms.pdf": "CONTENT_TOO_SHORT",  # form
    "pdf/sf012_libreoffice-form.pdf": "CONTENT_TOO_SHORT",  # form
    "pdf/sf013_reportlab-overlay.pdf": "CONTENT_TOO_SHORT",  # text
    "pdf/sf015_habibi-rotated.pdf": "CONTENT_TOO_SHORT",  # rotated
    "pdf/sf016_libre-office-link.pdf": "CONTENT_TOO_SHORT",  # text
    "pdf/sf018_base64image.pdf": "NO_TEXT_LAYER",  # image-only
    "pdf/sf019_grayscale-image.pdf": "NO_TEXT_LAYER",  # image-only
    "pdf/sf022_pdfkit.pdf": "CONTENT_TOO_SHORT",  # text
    "pdf/sf023_cmyk-image.pdf": "NO_TEXT_LAYER",  # image-only
    "pdf/sf025_with-attachment.pdf": "ACCEPTED",  # attachment
    "pdf/sf026_multicolumn.pdf": "ACCEPTED",  # multi-column
    "pdf/pypdf_r3-empty-password.pdf": "CONTENT_TOO_SHORT",  # encrypted-empty-password
    "pdf/pypdf_r4-owner-password.pdf": "CONTENT_TOO_SHORT",  # encrypted-empty-password
    "pdf/pypdf_r6-empty-password.pdf": "CONTENT_TOO_SHORT",  # encrypted-empty-password
    "pdf/pypdf_r6-user-password.pdf": "CONTENT_TOO_SHORT",  # encrypted-user-password-empty-owner
    "pdf/pypdf_Seige_of_Vicksburg_Sample_OCR.pdf": "ACCEPTED",  # scanned+ocr
    "pdf/pypdf_GeoBase_NHNC1_Data_Model_UML_EN.pdf": "ACCEPTED",  # multi-page
    "pdf/pdfminer_zen_of_python_corrupted.pdf": "ACCEPTED",  # corrupt
    "pdf/pdfminer_naacl06-shinyama.pdf": "ACCEPTED",  # multi-column
    "pdf/pdfminer_kampo.pdf": "ACCEPTED",  # non-latin+encrypted-empty-password
    "pdf/pdfminer_rc4-128.pdf": "ENCRYPTED_FILE_UNSUPPORTED",  # user password
    "pdf/pikepdf_congress.pdf": "NO_TEXT_LAYER",  # scanned-image-only
    "pdf/pikepdf_sandwich.pdf": "ACCEPTED",  # scanned+ocr
    "pdf/pikepdf_cyclic-toc.pdf": "EMPTY_CONTENT",  # malformed
    "pdf/pikepdf_graph-encrypted.pdf": "ENCRYPTED_FILE_UNSUPPORTED",  # user password
    "pdf/qpdf_bad2.pdf": "CORRUPT_FILE",  # corrupt
    "pdf/qpdf_bad3.pdf": "CONTENT_TOO_SHORT",  # corrupt
    "pdf/qpdf_bad24.pdf": "CORRUPT_FILE",  # corrupt
    "pdf/qpdf_bad31.pdf": "CONTENT_TOO_SHORT",  # corrupt
    "pdf/qpdf_issue-141a.pdf": "CORRUPT_FILE",  # corrupt
    "pdf/qpdf_append-xref-loop.pdf": "ACCEPTED",  # corrupt
    "pdf/textract_raw_text.pdf": "ACCEPTED",  # text
    "pdf/textract_two_column.pdf": "ACCEPTED",  # multi-column
    "docx/pydocx_comments-rich-para.docx": "CONTENT_TOO_SHORT",  # comments
    "docx/pydocx_doc-odd-even-hdrs.docx": "CONTENT_TOO_SHORT",  # headers-footers
    "docx/pydocx_par-hyperlinks.docx": "CONTENT_TOO_SHORT",  # hyperlinks
    "docx/pydocx_par-hlink-frags.docx": "ACCEPTED",  # hyperlinks
    "docx/pydocx_par-rendered-page-breaks.docx": "ACCEPTED",  # page-breaks
    "docx/pydocx_blk-paras-and-tables.docx": "CONTENT_TOO_SHORT",  # tables
    "docx/pydocx_tbl-cell-access.docx": "ACCEPTED",  # tables
    "docx/pydocx_num-having-numbering-part.docx": "CONTENT_TOO_SHORT",  # lists
    "docx/pydocx_set-no-settings-part.docx": "EMPTY_CONTENT",  # odd-structure
    "docx/pydocx_doc-no-coreprops.docx": "EMPTY_CONTENT",  # odd-structure
    "docx/pydocx_having-images.docx": "EMPTY_CONTENT",  # images
    "docx/pydocx_test.docx": "CONTENT_TOO_SHORT",  # text
    "docx/mammoth_endnotes.docx": "CONTENT_TOO_SHORT",  # notes
    "docx/mammoth_footnotes.docx": "CONTENT_TOO_SHORT",  # notes
    "docx/mammoth_simple-list.docx": "CONTENT_TOO_SHORT",  # lists
    "docx/mammoth_single-paragraph.docx": "CONTENT_TOO_SHORT",  # text
    "docx/mammoth_tables.docx": "CONTENT_TOO_SHORT",  # tables
    "docx/mammoth_text-box.docx": "CONTENT_TOO_SHORT",  # text-box
    "docx/mammoth_utf8-bom.docx": "CONTENT_TOO_SHORT",  # odd-structure
    "docx/textract_raw_text.docx": "ACCEPTED",  # text
    "rtf/striprtf_Example_text.rtf": "ACCEPTED",  # text
    "rtf/striprtf_BVWGT_20241227.rtf": "CONTENT_TOO_LONG",  # large
    "rtf/striprtf_TX_RTF32.rtf": "ACCEPTED",  # text
    "rtf/striprtf_ansicpg1250.rtf": "ACCEPTED",  # encoding
    "rtf/striprtf_calcium_score.rtf": "CONTENT_TOO_SHORT",  # text
    "rtf/striprtf_encoding.rtf": "ACCEPTED",  # encoding
    "rtf/striprtf_hello.rtf": "CONTENT_TOO_SHORT",  # text
    "rtf/striprtf_hyperlinks.rtf": "CONTENT_TOO_SHORT",  # hyperlinks
    "rtf/striprtf_issue_15.rtf": "ACCEPTED",  # edge-case
    "rtf/striprtf_issue_20.rtf": "CONTENT_TOO_SHORT",  # edge-case
    "rtf/striprtf_issue_29_bad.rtf": "ACCEPTED",  # large
    "rtf/striprtf_issue_37.rtf": "EMPTY_CONTENT",  # edge-case
    "rtf/striprtf_issue_55.rtf": "CONTENT_TOO_SHORT",  # edge-case
    "rtf/striprtf_line_break_textedit_mac.rtf": "CONTENT_TOO_SHORT",  # text
    "rtf/striprtf_nbsp.rtf": "CONTENT_TOO_SHORT",  # edge-case
    "rtf/striprtf_nested_table.rtf": "ACCEPTED",  # tables
    "rtf/striprtf_pages_table_sample.rtf": "ACCEPTED",  # tables
    "rtf/striprtf_simple_table.rtf": "CONTENT_TOO_SHORT",  # tables
    "rtf/striprtf_test_line_breaks_google_docs.rtf": "CONTENT_TOO_SHORT",  # text
    "rtf/striprtf_unicode.rtf": "CONTENT_TOO_SHORT",  # encoding
    "html/textract_raw_text.html": "CONTENT_TOO_LONG",  # text
    "html/textract_tables.html": "ACCEPTED",  # tables
    "html/readability_bbc-1.html": "ACCEPTED",  # news
    "html/readability_blogger.html": "ACCEPTED",  # blog
    "html/readability_daringfireball-1.html": "ACCEPTED",  # blog
    "html/readability_dropbox-blog.html": "ACCEPTED",  # blog
    "html/readability_firefox-nightly-blog.html": "ACCEPTED",  # blog
    "html/readability_gitlab-blog.html": "ACCEPTED",  # blog
    "html/readability_ietf-1.html": "ACCEPTED",  # rfc-document
    "html/readability_lwn-1.html": "ACCEPTED",  # news
    "html/readability_mozilla-1.html": "ACCEPTED",  # product-page
    "html/readability_nytimes-1.html": "ACCEPTED",  # news
    "html/readability_seattletimes-1.html": "ACCEPTED",  # news
    "html/readability_v8-blog.html": "ACCEPTED",  # blog
    "html/readability_wordpress.html": "ACCEPTED",  # blog
    "html/readability_webmd-1.html": "ACCEPTED",  # health
    "html/readability_mercurial.html": "ACCEPTED",  # docs
    "html/readability_lemonde-1.html": "ACCEPTED",  # news-french
    "html/readability_hukumusume.html": "ACCEPTED",  # non-latin-japanese
    "html/readability_qq.html": "ACCEPTED",  # charset-mismatch-chinese
}
