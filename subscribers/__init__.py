"""The subscriber domain: groups, subscribers, memberships and the suppression list."""
