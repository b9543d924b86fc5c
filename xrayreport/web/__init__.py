"""The dentist's web workspace: upload scans, review and correct findings, hand out reports.

:func:`xrayreport.web.app.create_app` builds the FastAPI application from a
:class:`xrayreport.web.config.WebConfig`; ``xrayreport serve`` runs it with uvicorn. Analysis and
report rendering are injected callables, so the app works (and says so clearly) when the detection
model or the report stage is not installed. Importing this package imports nothing heavy: the web
libraries come with the ``[web]`` extra and are imported by the submodules only.
"""
