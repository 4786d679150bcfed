"""The daemon's own USB gadgets (``kvmswitchd gadget setup|teardown``): one composite
gadget per ``gadget`` port built in configfs (``plan`` says what, ``apply`` does it),
the hidg nodes found again by the daemon (``discovery``), and the mass-storage LUN the
kernel serves a port's image through (``lun``)."""
