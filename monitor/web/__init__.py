"""The web inbox: a Starlette app that people sign in to, to see and answer mentions.

``app.create_app`` builds it; ``harken web serve`` runs it under uvicorn. Routes are thin: they
parse the request, call one Storage method and render one template (``templates/``). Who may
do what is decided in one place, ``auth``.
"""
