"""The project's own Toxiproxy: a TCP proxy server that speaks Toxiproxy's HTTP API (so the unmodified
toxiproxy-python client drives it), and the harness's layer over that client for link faults."""
