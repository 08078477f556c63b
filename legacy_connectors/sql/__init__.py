"""Any database SQLAlchemy has a dialect for, read-only, streamed, keyset-paginated.

Tested on MariaDB (pymysql, mysqlclient), PostgreSQL (psycopg) and SQLite.
``SqlSource(url)`` gives the class of the URL's engine: ``MysqlSource`` (MariaDB and
MySQL), ``PostgresSource``, ``SqliteSource``, or ``SqlSource`` itself for any other. Each
engine's own ways live in its module; what they share in ``source``, and the checksums
MariaDB and PostgreSQL compute themselves in ``pushdown``. What every one does with the
oddities of real legacy databases:

* **Read-only.** Every connection is put in read-only mode as it is made (MariaDB and
  PostgreSQL: read-only transactions; SQLite: ``query_only``), so nothing here can write
  to the legacy system even by mistake.
* **Streaming.** ``read`` runs one query per call on a server-side cursor (pymysql's
  unbuffered cursor, a PostgreSQL named cursor) and hands rows out in batches: memory is
  bounded by the batch, never the table. A reader that stops early drops the connection,
  which ends the query, instead of reading the rest of the table.
* **Keyset pagination.** ``after``/``upto`` are expanded into ``k1 > a OR (k1 = a AND
  k2 > b) ...`` rather than row-value comparisons, which every engine supports and whose
  leading ``k1 >= a`` lets the key's index serve the range.
* **CHAR padding.** Trailing blanks of CHAR(n) values are removed on every engine, as
  MariaDB already does and as SQL's PAD SPACE comparison treats them.
* **No key.** A table without a primary key is read by a unique key the plan names, or
  by ``_row_hash`` (``legacy_connectors.base.ROW_HASH``): the md5 of the row's canonical
  form, computed by the database (MariaDB, PostgreSQL). Rows then carry ``_row_hash`` as
  an extra last entry so a copy can resume after it. Identical duplicate rows share one
  hash: the count check of reconciliation shows them.
* **Checksums pushed down.** On MariaDB and PostgreSQL the per-row md5 of the canonical
  form (``legacy_connectors.canonical``) and its per-segment sum are computed by the
  database; only one number per segment crosses the network. Other engines stream the
  rows and compute the same numbers in Python. Reconciliation uses ``row_hashes``,
  ``bucket_checksums`` and ``stored_types``.
* **Errors.** A connection lost mid-read is a retryable ``DatabaseError`` naming the table
  and how many rows had been read; a table or column that does not exist is a
  ``PlanError``. Messages never quote row values (they are personal data).

What only MariaDB/MySQL do (zero dates, their own types, bulk reads as text, the binlog)
is told in ``legacy_connectors.sql.mysql``.
"""

from legacy_connectors.base import TextBatch
from legacy_connectors.sql.mysql import MysqlSource
from legacy_connectors.sql.postgresql import PostgresSource, postgres_duration_text
from legacy_connectors.sql.pushdown import PushDownSource
from legacy_connectors.sql.source import SqlSource, StoredType, open_sql_source
from legacy_connectors.sql.sqlite import SqliteSource

__all__ = [
    "MysqlSource",
    "PostgresSource",
    "PushDownSource",
    "SqlSource",
    "SqliteSource",
    "StoredType",
    "TextBatch",
    "open_sql_source",
    "postgres_duration_text",
]
