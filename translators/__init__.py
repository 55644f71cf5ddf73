"""Per-resource v6 ↔ v7 translation rules (one module per resource or concern)."""
