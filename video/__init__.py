"""video: a pure EDID and video-mode library (SPEC §6).

Build EDIDs (:func:`build_edid`, presets in :data:`PRESETS`), turn user input into bytes
(:func:`parse_blob`), validate and decode them (:func:`validate_edid`,
:func:`parse_edid`), learn the console monitor's EDID (:func:`learn_console_edid`) and
check modes against a monitor (:func:`monitor_can_show`, :func:`suggest_modes`). Nothing
here does I/O except ``video.learn`` reading sysfs files under a root it is given.

How this maps to real hardware (documentation only; no code here touches hardware):

* **The EDID a target sees.** A KVM presents each port's EDID on that port's video
  input. With an HDMI-to-CSI bridge such as the Toshiba TC358743 (PiKVM's capture chip)
  the blob is written to the bridge's EDID RAM with ``v4l2-ctl --set-edid=file=port.bin``
  (the ``VIDIOC_S_EDID`` ioctl on the ``/dev/videoN`` node); the bridge then answers the
  target's DDC reads at I²C address 0x50 and raises hot-plug detect. Idle ports keep
  their EDID and HPD so the target's OS never rearranges its displays.
* **The console monitor's EDID.** Learned from ``/sys/class/drm/card*-*/edid`` (first
  connected connector). To make the console side see a different EDID (testing, or a
  monitor with a broken one) Linux takes an override before DDC: write the blob to
  debugfs ``/sys/kernel/debug/dri/<N>/<connector>/edid_override``, or boot with
  ``drm.edid_firmware=<connector>:edid/<file>.bin`` (a file under ``/lib/firmware``).
* The blobs produced by :func:`build_edid` are exactly those files: 128 or 256 bytes,
  EDID 1.4 with a CTA-861 block when audio is advertised, passing ``edid-decode -c``.
"""

from video.blob import MAX_BLOB_TEXT, parse_blob
from video.build import build_edid
from video.cta import Audio, AudioFormat, CtaExtension, ShortAudioDescriptor
from video.descriptors import RangeFormula, RangeLimits
from video.edid import DigitalInterface, EdidInfo, parse_edid, validate_edid
from video.errors import EdidError
from video.framing import MAX_EDID_BYTES
from video.learn import ConnectorReport, LearnedEdid, learn_console_edid, read_connectors
from video.mode import DetailedTiming, Mode, parse_mode
from video.monitor import (
    listed_modes,
    monitor_can_show,
    preferred_mode,
    suggest_modes,
    supported_modes,
)
from video.presets import DEFAULT_PRESET, PRESETS, Preset

__all__ = [
    "DEFAULT_PRESET",
    "MAX_BLOB_TEXT",
    "MAX_EDID_BYTES",
    "PRESETS",
    "Audio",
    "AudioFormat",
    "ConnectorReport",
    "CtaExtension",
    "DetailedTiming",
    "DigitalInterface",
    "EdidError",
    "EdidInfo",
    "LearnedEdid",
    "Mode",
    "Preset",
    "RangeFormula",
    "RangeLimits",
    "ShortAudioDescriptor",
    "build_edid",
    "learn_console_edid",
    "listed_modes",
    "monitor_can_show",
    "parse_blob",
    "parse_edid",
    "parse_mode",
    "preferred_mode",
    "read_connectors",
    "suggest_modes",
    "supported_modes",
    "validate_edid",
]
