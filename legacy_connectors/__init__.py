"""Legacy sources (sql, copybook, csv, dbf, access): read-only. Built by a later issue."""
