"""Facts about the seeded shop that clients need, with nothing heavy imported."""

# Every seeded account shares this demo password (each with its own salt).
DEMO_PASSWORD = "sandbox123"

# The seeded OAuth2 clients (third-party services): client id -> (secret, scopes granted, the
# shop account the client orders for). Public like the demo password: anyone may act as these
# partners, and none of them is granted more than a customer could do.
DEMO_CLIENTS: dict[str, tuple[str, str, int]] = {
    "partner-shop": ("partner-shop-demo-secret", "products:read orders:read orders:write", 2),
    "price-watcher": ("price-watcher-demo-secret", "products:read", 3),
}
