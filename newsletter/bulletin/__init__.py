"""The weekly bulletin itself: the parsed document, its database models, parser and CLI."""
