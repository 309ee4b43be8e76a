"""The trust boundary: submissions that crash, hang, forge or look around are graded beside
honest ones, and the wire, the worker and the process state hold."""
