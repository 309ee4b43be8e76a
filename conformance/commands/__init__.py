"""Commands layer: the entry points (command line, pytest plugins, worker process, adapt); imports every layer."""
