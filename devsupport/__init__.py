"""What the tests and the benchmark both use to stage a desktop: a real Xvfb, a free port, a
window by its title, a control plane, an OpenAI-compatible server. A package of its own, at the top of the checkout and not installed, so
that bench/ does not import tests/ (nor tests/ bench/)."""
