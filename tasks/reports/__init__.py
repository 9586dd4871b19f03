"""What the dashboard shows: read-only queries over readers, deliveries and events."""
