"""video: a pure EDID and video-mode library."""
