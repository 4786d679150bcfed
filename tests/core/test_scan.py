from __future__ import annotations

import pytest

from kvmswitchd.core.scan import AutoScan


def test_scan_fires_once_per_dwell_with_injected_time() -> None:
    scan = AutoScan(dwell=5)
    scan.start(100.0)
    assert not scan.handle_timer(104.9)
    assert scan.handle_timer(105.0)
    assert scan.next_deadline() == 110.0
    assert scan.stop() and not scan.on
    assert not scan.handle_timer(200.0)


def test_dwell_is_validated() -> None:
    with pytest.raises(ValueError, match="dwell"):
        AutoScan().start(0.0, dwell=0.1)
