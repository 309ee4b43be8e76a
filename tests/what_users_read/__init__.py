"""What a user reads: messages, diagnosis, ``adapt``, the report, the badge."""
