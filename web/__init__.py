"""TerraMiner's web app: server-rendered pages over the data API's service layer, under ``/app/``.

``web`` imports ``api`` and ``core``; ``api`` never imports ``web`` (``terraminer api`` serves
:func:`web.server.create_app`, the API app with these pages mounted).
"""
