"""The reports, pure: markdown, console table, JSON and the text helpers they share. Formatters return strings."""
