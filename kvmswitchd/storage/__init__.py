"""USB storage: the image store and an emulated mass-storage device (SPEC §3.4, §8).

- ``images``/``catalog``: disk images in ``<state>/images`` with their metadata;
- ``blockdev``: the ``BlockDevice`` seam (image file, memory);
- ``scsi``/``scsi_command``/``scsi_wire``: a sans-IO SCSI disk (LUN state as configfs);
- ``bot``: Bulk-Only Transport framing on top of it (what USB/IP or a test host talks);
- ``lun``: the ``StorageBus`` Protocol (configfs LUN attributes) and its emulated form;
- ``initiator``/``volume``: the host side, for emulated computers and tests.

The hand-over rules (who may have the storage when) are in ``kvmswitchd.core.storage``.
"""
