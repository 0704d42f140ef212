"""``faceblur serve``: the REST API, video jobs, metrics and the web page (needs the ``serve`` extra)."""
