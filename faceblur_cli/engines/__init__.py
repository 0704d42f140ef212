"""Engines that run a planned batch elsewhere than this process (:func:`faceblur_cli.batch.run`'s ``engine``)."""
