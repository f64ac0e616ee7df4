"""Staff pages and `send` commands to start, schedule, watch and control sends (thin over
delivery/)."""
