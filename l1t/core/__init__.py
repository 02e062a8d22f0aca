"""What every l1t package shares: the input error, atomic file writing, JSON, YAML with line numbers and field checks."""
