"""Records: their typed classes and required fields, canonical JSON and hashes, ids, times,
the bus layout and the lease rule.  No I/O."""
