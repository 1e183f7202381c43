"""Schemathesis hooks for the contract test in .ci/run: bulk bodies are NDJSON, which
schemathesis cannot serialise by itself; the generated string is sent as it is."""
import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
