"""A small, deliberately vulnerable shop application used by ``kposture demo`` (data files only)."""
