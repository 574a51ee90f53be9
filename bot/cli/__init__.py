"""The command line (`tipbot ...`)."""
