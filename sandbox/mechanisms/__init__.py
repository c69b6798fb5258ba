"""The mechanisms the sandbox teaches: each module is short, commented, and switched by settings."""
