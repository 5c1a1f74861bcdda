"""Settings: how one is declared and typed (`settings`), the registries of named classes (`registry`), classes
by import path (`user_code`), and the one config composed and checked from them (`compose`)."""
