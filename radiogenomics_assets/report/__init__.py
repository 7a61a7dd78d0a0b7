"""The study report: one self-contained HTML page of a study's results and where they came from.

:mod:`.content` gathers what the page shows from the stored tables and figures; :mod:`.render`
lays it out with the Jinja2 template under ``templates/``.
"""
