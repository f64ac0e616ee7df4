"""Staff pages to start, schedule, watch and control sends (thin views over delivery/)."""
