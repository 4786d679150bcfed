"""Forwarding the event log to a syslog collector: RFC 5424 messages (``format``, sans-IO)
over UDP, TCP or TLS (``sender``), configured by the ``[syslog]`` table (``settings``)."""
