"""Storage: tables, encrypted column types, repositories and migrations. Rows never leave this package."""
