"""HTTP handlers only: parse the request, call the domain, serialise the answer.

Nothing here talks to X or runs processes itself; every route is declared once as a Route so
that registration and /v1/openapi.json come from the same table.
"""
