"""Fuzzing: the copybook reader, the template and plan loaders, and document intake fed
damaged real inputs and generated ones; nothing but our own errors may come out."""
