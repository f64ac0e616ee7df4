"""Delivery tracking: open pixel and signed click redirects, the Redis event buffer and its
flush into DeliveryEvent rows, and bounce/complaint intake (DSN RFC 3464, ARF RFC 5965) by
SMTP, file or webhook.

The pieces the send pipeline calls live in `links` (pixel URL, click base, link rewriting).
"""
