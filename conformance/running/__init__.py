"""Running layer: an implementation in a worker process or in this one, and its sandbox; imports cases and below."""
