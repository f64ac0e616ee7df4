"""Tests of newsletter.render: no database, no Flask."""
