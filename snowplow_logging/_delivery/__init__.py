"""Delivery: one batching engine that holds a sink.

The engine (:mod:`.engine`) owns the bounded queue and its counters, one worker
thread, flush, close, the exit deadline and fork handling, back-off and
callbacks. What differs between destinations is a :class:`~.sink.Sink`: the
HTTP sink (:mod:`.http`) talks to a collector through ``requests``; the relays
(Redis, Celery, the SQLite spool) are sinks too. Nothing here imports the
tracker: the tracker hands delivery built payloads or pending events.
"""
