"""Use cases over the store: validation first, then one transaction per change."""
