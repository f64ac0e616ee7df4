"""The development mailbox: what the local SMTP sink received."""
