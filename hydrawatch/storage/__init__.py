"""The storage boundary: every table and file the pipeline reads or writes goes through here.

- `tables`: the identity of each Delta table (name, partition column, key, day column).
- `warehouse.Warehouse`: Delta reads (plain, pinned to a version, a day, the latest accounts
  snapshot) and writes (replace a day's rows, overwrite a snapshot, append, upsert MERGE), every
  write retried on a commit conflict (`conflicts`).
- `files`: listing and moving files under the landing, exports and truth roots with `pyarrow.fs`
  (local folders and object stores alike, no Spark needed).

A job reads through here, calls pure transforms, and writes through here.
"""
