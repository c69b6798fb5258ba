"""Facts about the seeded shop that clients need, with nothing heavy imported."""

# Every seeded account shares this demo password (each with its own salt).
DEMO_PASSWORD = "sandbox123"
