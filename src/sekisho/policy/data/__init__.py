"""Public policy data: the legal-basis table, the PIA schema and the sample PIAs (package data)."""
