"""Document storage: originals, quarantined copies and archives, on disk or in S3.

``open_store(url, settings)`` picks the implementation from the storage URL.
"""

from adapters.storage.factory import open_store, s3_client
from adapters.storage.local import LocalStore
from adapters.storage.s3 import S3Store
from adapters.storage.store import DocumentStore, Readable, StoredObject, content_key

__all__ = [
    "DocumentStore",
    "LocalStore",
    "Readable",
    "S3Store",
    "StoredObject",
    "content_key",
    "open_store",
    "s3_client",
]
