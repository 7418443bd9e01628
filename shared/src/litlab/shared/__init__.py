"""litlab.shared: the litlab command line, callbacks and run utilities."""
