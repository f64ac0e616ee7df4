"""The 责编/复核 approval workflow: an issue goes out only after a second person approved it."""
