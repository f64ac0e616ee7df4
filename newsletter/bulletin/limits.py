"""The bounds on what an import may cost: one place for the upload page, the CLI, the API
and the format readers. Checked before the expensive step (bytes before parsing, the zip's
directory before inflating, the page count before extracting).
"""

MAX_FILE_BYTES = 10 * 1024 * 1024  # a Word or PDF issue with its fonts and a logo: < 2 MB
MAX_TEXT_CHARS = 400_000  # the sample has ~17 k characters
MAX_PDF_PAGES = 60  # the sample prints on 8 A4 pages
MAX_PDF_CHARS_PER_PAGE = 20_000  # a dense A4 page of CJK text holds ~2 k
MAX_ZIP_ENTRIES = 2_000
MAX_DOCX_XML_BYTES = 40 * 1024 * 1024  # inflated XML parts together (a zip bomb stops here)
MAX_PREVIEW_TOKEN_BYTES = 2 * 1024 * 1024  # the signed preview field (compressed)
