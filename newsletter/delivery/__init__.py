"""The send pipeline: sends, deliveries, queueing, SMTP transport. Knows nothing about HTTP."""
