"""USB storage: the image store and an emulated mass-storage device (SPEC §3.4, §8).

- ``images``/``catalog``/``upload``: disk images in ``<state>/images`` with their
  metadata, and images being received (temp files that become images or nothing);
- ``space``: room on the state disk (per-user quota, the reserve kept free);
- ``library``/``service``/``views``/``timer``: the async image API, the service that
  wires store, hand-over core and device, its JSON renderings and its one timer;
- ``blockdev``: the ``BlockDevice`` seam (image file, memory);
- ``scsi``/``scsi_command``/``scsi_wire``: a sans-IO SCSI disk (LUN state as configfs);
- ``bot``: Bulk-Only Transport framing on top of it (what USB/IP or a test host talks);
- ``lun``: the ``StorageBus`` Protocol (configfs LUN attributes) and its emulated form;
- ``initiator``/``volume``: the host side, for emulated computers and tests.

The hand-over rules (who may have the storage when) are in ``kvmswitchd.core.storage``.
"""
