"""One reader module per corpus format."""
