"""The shell: functions that read and write the store (scan, embeddings, clustering, maintenance).

The CLI, the Celery tasks and the API call these same functions; they differ only in how they
are triggered and how they report. Submodules are imported on use (``sonicmap.pipeline.scan``).
"""
