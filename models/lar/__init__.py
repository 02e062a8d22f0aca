"""LAr energy reconstruction: the optimal filter (and the nets)."""
