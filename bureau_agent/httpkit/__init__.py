"""The HTTP toolkit that every server in this project shares: request schemas and their
validator, reading and answering JSON, the route declaration and its OpenAPI document, the error
middleware, bearer tokens, and the serve loop. It knows nothing of the agent or the control plane,
so both (and the client-facing tools) can stand on it without reaching into each other."""
