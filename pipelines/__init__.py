"""Pipeline definitions and their thin runners, one folder per framework (tfx/, torch/)."""
