"""Neural architecture search: op table, architecture format, supernet, decode."""
