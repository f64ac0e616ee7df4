"""The JSON API under /api/v1: token-authenticated (never by cookie), CSRF-exempt,
JSON errors, cursor pagination, and an OpenAPI document that the tests hold it to."""
