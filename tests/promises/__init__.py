"""The promises the README makes: its statements, the public names, the plugin, the wheel,
the packaging, the layering of ``conformance/`` and the benchmarks' plumbing."""
