"""The tests' OpenAI-compatible server: devsupport's (the benchmark's chat streaming rows use it too)."""

from devsupport.fake_openai import FakeOpenAI

__all__ = ["FakeOpenAI"]
