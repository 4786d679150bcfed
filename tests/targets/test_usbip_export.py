"""The USB/IP server driven by independent clients: the PyPI ``usbip`` host side, a raw
socket client written from the protocol doc, and Debian's ``usbip`` CLI."""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import usbip
import usbip.host

from hid.descriptors import BOOT_KEYBOARD, RELATIVE_MOUSE
from kvmswitchd.errors import DeviceError
from kvmswitchd.storage.blockdev import FileBlockDevice
from kvmswitchd.storage.bot import BulkOnlyTransport, CommandBlockWrapper
from kvmswitchd.storage.initiator import BotInitiator, CheckConditionError, write10
from kvmswitchd.storage.scsi import LogicalUnit
from kvmswitchd.targets.target import TargetBackend
from kvmswitchd.targets.usbip_export import UsbipServer, UsbipTarget
from tests.conftest import require_tool
from tests.storage.rig import Recorder

TIMEOUT = 5.0
PRESS_A = bytes((0, 0, 4, 0, 0, 0, 0, 0))
T = TypeVar("T")


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking client call off the loop, so the server can answer it."""
    return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), TIMEOUT)


@pytest.fixture
async def server() -> AsyncIterator[UsbipServer]:
    srv = UsbipServer("127.0.0.1", 0)
    yield srv
    await srv.stop()


async def started(server: UsbipServer, unit: int, **kwargs: Any) -> UsbipTarget:
    target = server.add_port(unit, **kwargs)
    await target.start()
    return target


def attach(server: UsbipServer, busid: str) -> Any:
    host, port = server.address
    return usbip.attach(host, busid, port=port)


class Attachment:
    """Events for a target's client importing and detaching."""

    def __init__(self, target: UsbipTarget) -> None:
        self.imported = asyncio.Event()
        self.detached = asyncio.Event()
        target.set_attach_listener(self._heard)

    def _heard(self, attached: bool) -> None:
        (self.imported if attached else self.detached).set()


class UsbipPeer:
    """``BulkOnlyPeer`` over the PyPI client's handle: interface 2, bulk 0x02 / 0x83."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def bulk_out(self, data: bytes) -> None:
        self.handle.bulk_out(0x02, data)

    def bulk_in(self, max_length: int) -> bytes | None:
        return bytes(self.handle.bulk_in(0x83, max_length))

    def control(
        self, request_type: int, request: int, value: int, index: int, length: int
    ) -> bytes:
        if request_type & 0x80:
            return bytes(self.handle.control(request_type, request, value, 2, length))
        self.handle.control(request_type, request, value, 2, b"")
        return b""


def interface_triples(config: bytes) -> list[tuple[int, int, int]]:
    found, i = [], 9
    while i < len(config):
        if config[i + 1] == 4:
            found.append((config[i + 5], config[i + 6], config[i + 7]))
        i += config[i]
    return found


class RawClient:
    """A USB/IP client built from protocols.md §6 with ``struct`` alone."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.inbound: dict[int, bool] = {}

    @classmethod
    async def importing(cls, server: UsbipServer, busid: str) -> RawClient:
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(struct.pack(">HHI", 0x0111, 0x8003, 0) + busid.encode().ljust(32, b"\0"))
        head = await asyncio.wait_for(reader.readexactly(8), TIMEOUT)
        assert struct.unpack(">HHI", head) == (0x0111, 0x0003, 0)
        await reader.readexactly(312)
        return cls(reader, writer)

    def submit(
        self, seq: int, ep: int, length: int, *, setup: bytes = bytes(8), data: bytes = b""
    ) -> None:
        direction_in = bool(ep & 0x80)
        self.inbound[seq] = direction_in
        head = struct.pack(">IIIII", 1, seq, 0x10001, int(direction_in), ep & 0x0F)
        self.writer.write(head + struct.pack(">IiiIi", 0, length, 0, 0xFFFFFFFF, 1) + setup + data)

    def unlink(self, seq: int, victim: int) -> None:
        self.writer.write(struct.pack(">IIIIII", 2, seq, 0x10001, 0, 0, victim) + bytes(24))

    async def reply(self) -> tuple[int, int, int, bytes]:
        """(command, seqnum, status, IN data) of the next reply."""
        head = await asyncio.wait_for(self.reader.readexactly(48), TIMEOUT)
        command, seq = struct.unpack_from(">II", head)
        status, actual = struct.unpack_from(">ii", head, 20)
        data = b""
        if command == 3 and self.inbound.get(seq) and actual > 0:
            data = await self.reader.readexactly(actual)
        return command, seq, status, data

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


# -- listing and importing ------------------------------------------------------------------


async def test_devlist_lists_every_started_port_with_its_interfaces(server: UsbipServer) -> None:
    await started(server, 1)
    await started(server, 2, mouse="absolute")
    server.add_port(3)  # never started: not exported
    listed = await call(usbip.host.list_devices, usbip.USBIP(*server.address))
    assert [d["busid"] for d in listed] == ["1-1", "1-2"]
    assert listed[0]["interfaces"] == [(3, 1, 1), (3, 1, 2), (8, 6, 0x50)]
    assert listed[1]["interfaces"] == [(3, 1, 1), (3, 0, 0), (8, 6, 0x50)]


async def test_import_serves_device_configuration_and_report_descriptors(
    server: UsbipServer,
) -> None:
    await started(server, 1)
    handle = await call(attach, server, "1-1")
    try:
        assert (handle.device_descriptor.idVendor, handle.device_descriptor.idProduct) == (
            0x1D6B,
            0x0104,
        )
        config = bytes(await call(handle.control, 0x80, 6, 0x0200, 0, 255))
        assert interface_triples(config) == [(3, 1, 1), (3, 1, 2), (8, 6, 0x50)]
        keyboard = await call(handle.control, 0x81, 6, 0x2200, 0, 255)
        mouse = await call(handle.control, 0x81, 6, 0x2200, 1, 255)
        assert (bytes(keyboard), bytes(mouse)) == (BOOT_KEYBOARD, RELATIVE_MOUSE)
        name = await call(handle.control, 0x80, 6, 0x0302, 0x0409, 255)
        assert bytes(name)[2:].decode("utf-16-le") == "KVM port 1"
    finally:
        handle.close()


async def test_second_import_of_a_busy_device_and_unknown_busids_are_refused(
    server: UsbipServer,
) -> None:
    await started(server, 1)
    handle = await call(attach, server, "1-1")
    try:
        with pytest.raises(usbip.NotFound, match="status 1"):
            await call(attach, server, "1-1")
        with pytest.raises(usbip.NotFound, match="status 1"):
            await call(attach, server, "9-9")
    finally:
        handle.close()


# -- keyboard, mouse, LEDs ------------------------------------------------------------------


async def test_keyboard_report_arrives_through_an_interrupt_in_transfer(
    server: UsbipServer,
) -> None:
    target = await started(server, 1)
    handle = await call(attach, server, "1-1")
    try:
        pending = asyncio.ensure_future(call(handle.interrupt_in, 0x81, 8))
        target.write_keyboard(PRESS_A)
        assert bytes(await pending) == PRESS_A
        target.write_keyboard(bytes(8))
        assert bytes(await call(handle.interrupt_in, 0x81, 8)) == bytes(8)
        target.write_mouse(bytes((1, 3, 0xFD, 0, 0)))
        assert bytes(await call(handle.interrupt_in, 0x82, 8)) == bytes((1, 3, 0xFD, 0, 0))
        assert target.view()["reports_sent"] == 3
    finally:
        handle.close()


async def test_led_set_report_and_interrupt_out_reach_the_output_listener(
    server: UsbipServer,
) -> None:
    target = await started(server, 1)
    heard: list[bytes] = []
    target.set_output_listener(heard.append)
    handle = await call(attach, server, "1-1")
    try:
        await call(handle.control, 0x21, 0x09, 0x0200, 0, b"\x02")  # SET_REPORT(Output)
        await call(handle.interrupt_out, 0x01, b"\x03")
        assert heard == [b"\x02", b"\x03"]
    finally:
        handle.close()


async def test_interrupt_urb_is_held_until_a_report_and_unlink_cancels_it(
    server: UsbipServer,
) -> None:
    target = await started(server, 1)
    client = await RawClient.importing(server, "1-1")
    try:
        client.submit(1, 0x81, 8)
        client.submit(2, 0x80, 2, setup=struct.pack("<BBHHH", 0x80, 0, 0, 0, 2))  # GET_STATUS
        assert await client.reply() == (3, 2, 0, b"\x00\x00")  # URB 1 is still held
        target.write_keyboard(PRESS_A)
        assert await client.reply() == (3, 1, 0, PRESS_A)
        client.submit(3, 0x81, 8)
        client.unlink(4, 3)
        assert await client.reply() == (4, 4, -104, b"")  # unlinked before completion
        client.unlink(5, 1)
        assert await client.reply() == (4, 5, 0, b"")  # already completed
        target.write_keyboard(bytes(8))  # no URB waits: queued, never sent for URB 3
        client.submit(6, 0x81, 8)
        assert await client.reply() == (3, 6, 0, bytes(8))
    finally:
        await client.close()


# -- storage --------------------------------------------------------------------------------


def image(tmp_path: Path, blocks: int = 64) -> tuple[Path, LogicalUnit, Recorder]:
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(blocks * 512))
    heard = Recorder()
    unit = LogicalUnit(listener=heard)
    unit.load(FileBlockDevice.open(path, read_only=False, durable=False))
    return path, unit, heard


def settle(host: BotInitiator) -> None:
    """Consume the medium-changed UNIT ATTENTION, as a host does after attaching."""
    with pytest.raises(CheckConditionError):
        host.test_unit_ready()
    host.test_unit_ready()


async def test_scsi_through_bulk_only_transport_lands_in_the_image(
    server: UsbipServer, tmp_path: Path
) -> None:
    path, unit, _heard = image(tmp_path)
    target = await started(server, 1)
    target.set_storage(BulkOnlyTransport(unit))
    handle = await call(attach, server, "1-1")
    try:
        host = BotInitiator(UsbipPeer(handle), transfer_size=4096)
        assert await call(host.max_lun) == 0
        await call(settle, host)
        inquiry = await call(host.inquiry)
        assert (len(inquiry), inquiry[0] & 0x1F) == (36, 0)
        assert await call(host.probe) == (64, 512)
        data = bytes(range(256)) * 2 * 3
        await call(host.write, 5, data)
        assert await call(host.read, 5, 3) == data
        assert path.read_bytes()[5 * 512 : 8 * 512] == data
    finally:
        handle.close()
        unit.unload(force=True)


async def test_without_storage_the_reader_reports_medium_not_present(server: UsbipServer) -> None:
    await started(server, 1)
    handle = await call(attach, server, "1-1")
    try:
        host = BotInitiator(UsbipPeer(handle))
        assert len(await call(host.inquiry)) == 36
        with pytest.raises(CheckConditionError) as caught:
            await call(host.test_unit_ready)
        assert caught.value.sense == 0x023A00
    finally:
        handle.close()


# -- going away and coming back -----------------------------------------------------------


async def test_client_vanishing_mid_write_leaves_the_other_ports_serving(
    server: UsbipServer, tmp_path: Path
) -> None:
    _path, unit, heard = image(tmp_path)
    first = await started(server, 1)
    second = await started(server, 2)
    first.set_storage(BulkOnlyTransport(unit))
    events = Attachment(first)
    client = await RawClient.importing(server, "1-1")
    tur = CommandBlockWrapper(1, 0, False, 0, bytes(6)).encode()  # takes the UNIT ATTENTION
    client.submit(1, 0x02, len(tur), data=tur)
    client.submit(2, 0x83, 13)
    assert [(await client.reply())[:3] for _ in range(2)] == [(3, 1, 0), (3, 2, 0)]
    cbw = CommandBlockWrapper(2, 512, False, 0, write10(0, 1)).encode()
    client.submit(3, 0x02, len(cbw), data=cbw)
    assert await client.reply() == (3, 3, 0, b"")
    assert heard.events == [("io_started", True)]
    client.submit(4, 0x02, 512, data=bytes(100))  # the rest never comes
    await client.close()
    await asyncio.wait_for(events.detached.wait(), TIMEOUT)
    assert ("io_finished", True) in heard.events  # the aborted write is over, not in flight

    handle = await call(attach, server, "1-2")
    try:
        pending = asyncio.ensure_future(call(handle.interrupt_in, 0x81, 8))
        second.write_keyboard(PRESS_A)
        assert bytes(await pending) == PRESS_A
    finally:
        handle.close()
    again = await call(attach, server, "1-1")  # the vanished client's device is free again
    try:
        host = BotInitiator(UsbipPeer(again))
        with pytest.raises(CheckConditionError) as caught:
            await call(host.test_unit_ready)
        assert caught.value.sense == 0x062900  # the new host sees a reset
        await call(host.write, 0, b"\x55" * 512)
        assert await call(host.read, 0, 1) == b"\x55" * 512
    finally:
        again.close()
        unit.unload(force=True)


async def test_garbage_is_dropped_without_disturbing_the_server(server: UsbipServer) -> None:
    await started(server, 1)
    reader, writer = await asyncio.open_connection(*server.address)
    writer.write(b"GET / HTTP/1.1\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    writer.close()
    listed = await call(usbip.host.list_devices, usbip.USBIP(*server.address))
    assert [d["busid"] for d in listed] == ["1-1"]


async def test_stopping_a_target_drops_its_client_and_unexports_it(server: UsbipServer) -> None:
    first = await started(server, 1)
    await started(server, 2)
    events = Attachment(first)
    client = await RawClient.importing(server, "1-1")
    await first.stop()
    assert events.detached.is_set()
    assert await asyncio.wait_for(client.reader.read(), TIMEOUT) == b""
    await client.close()
    listed = await call(usbip.host.list_devices, usbip.USBIP(*server.address))
    assert [d["busid"] for d in listed] == ["1-2"]
    assert first.view()["attached"] is False


# -- Debian's usbip CLI ----------------------------------------------------------------------


def usbip_cli() -> str:
    """Debian installs it in /usr/sbin, which is not on every user's PATH."""
    if shutil.which("usbip") is None and os.access("/usr/sbin/usbip", os.X_OK):
        return "/usr/sbin/usbip"
    return require_tool("usbip", "Debian's USB/IP client")


@pytest.mark.external
async def test_debian_usbip_cli_lists_the_exported_devices(server: UsbipServer) -> None:
    cli = usbip_cli()
    await started(server, 1)
    await started(server, 2, mouse="absolute")
    host, port = server.address
    proc = await asyncio.create_subprocess_exec(
        cli, "--tcp-port", str(port), "list", "-r", host,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "1-1: " in text and "1-2: " in text
    assert "(1d6b:0104)" in text
    assert text.count("(03/01/01)") == 2
    assert "(03/01/02)" in text and "(03/00/00)" in text
    assert text.count("(08/06/50)") == 2


async def test_a_taken_address_is_a_device_error(server: UsbipServer) -> None:
    await started(server, 1)
    rival = UsbipServer(*server.address)
    with pytest.raises(DeviceError, match="cannot listen"):
        await rival.add_port(1).start()


def test_usbip_target_is_a_target_backend_with_a_view() -> None:
    backend: TargetBackend = UsbipServer().add_port(4)
    assert backend.kind == "usbip"
    view = backend.view()
    assert (view["busid"], view["attached"], view["client"], view["storage"]) == (
        "1-4",
        False,
        None,
        False,
    )
    assert {"reports_sent", "queued", "dropped", "held_urbs", "configured"} <= view.keys()
    backend.present_edid(None)
    assert backend.screen() is None
