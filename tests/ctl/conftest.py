"""The whole daemon in-process (tests.daemon's ``running`` fixture), for kvmctl's tests."""

from tests.daemon.conftest import running

__all__ = ["running"]
