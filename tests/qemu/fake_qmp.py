"""A fake QEMU: a real asyncio unix socket speaking QMP JSON (a fake, not a mock).

It greets, negotiates capabilities and answers the commands the ``qemu`` target sends
the way QEMU 7.2 does (run state, power, screendump into the named file, block nodes,
usb-storage, block stats), sending the events QEMU would. ``hold_input`` makes it keep
``input-send-event`` replies back (a VM that is slow to take input), ``kill()`` drops the
connection and the socket like a VM whose process died, ``start()`` brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image


def png(width: int = 720, height: int = 400) -> bytes:
    """A PNG of a VGA text screen's size: what screendump writes."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (0, 0, 170)).save(out, format="PNG")
    return out.getvalue()


class FakeQmp:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.status = "running"
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.input: list[list[dict[str, Any]]] = []  # each input-send-event's events
        self.nodes: dict[str, dict[str, Any]] = {}
        self.devices: dict[str, dict[str, Any]] = {}
        self.counters = [0, 0]  # the disk's rd_operations, wr_operations
        self.hold_input = False
        self.reject_input: set[int] = set()  # the input-send-event commands (0-based) refused
        self.in_flight = 0  # input commands sent and not answered yet
        self.most_in_flight = 0
        self.screen = png()
        # screendump plants a symlink to this file instead of writing (a hostile QEMU)
        self.screen_link: Path | None = None
        self.command_seen = asyncio.Event()
        self.connected = asyncio.Event()
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))

    async def kill(self) -> None:
        """The VM's process died: the connection drops and the socket is gone."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        self.connected.clear()
        self.path.unlink(missing_ok=True)

    def inputs_seen(self) -> int:
        """How many input-send-event commands came before the one being answered."""
        return sum(1 for name, _ in self.commands if name == "input-send-event") - 1

    def release_input(self) -> None:
        self.hold_input = False
        self._release.set()

    async def wait_for(self, command: str) -> dict[str, Any]:
        """The arguments of the next ``command`` received (or one already received)."""
        while True:
            for name, args in self.commands:
                if name == command:
                    self.commands.remove((name, args))
                    return args
            self.command_seen.clear()
            await self.command_seen.wait()

    def names(self) -> list[str]:
        return [name for name, _ in self.commands]

    def event(self, name: str, data: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"event": name, "timestamp": {"seconds": 0, "microseconds": 0}}
        if data is not None:
            message["data"] = data
        for writer in self._writers:
            writer.write(json.dumps(message).encode() + b"\r\n")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        greeting = {
            "QMP": {
                "version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""},
                "capabilities": [],
            }
        }
        writer.write(json.dumps(greeting).encode() + b"\r\n")
        decoder = json.JSONDecoder()
        buffer = ""
        tasks: set[asyncio.Task[None]] = set()
        try:
            # QMP is a stream of JSON objects, not lines (qemu.qmp sends no newline)
            while chunk := await reader.read(65536):
                buffer += chunk.decode()
                while buffer.strip():
                    try:
                        message, end = decoder.raw_decode(buffer.lstrip())
                    except ValueError:
                        break  # the rest of the object is still on its way
                    buffer = buffer.lstrip()[end:]
                    task = asyncio.create_task(self._answer(message, writer))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._writers.remove(writer)
            writer.close()

    async def _answer(self, message: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        name = message["execute"]
        args = message.get("arguments", {})
        if name != "qmp_capabilities":
            self.commands.append((name, args))
            self.command_seen.set()
        reply: Any = {}
        error: str | None = None
        match name:
            case "qmp_capabilities":
                self.connected.set()
            case "query-status":
                reply = {"status": self.status, "running": self.status == "running"}
            case "input-send-event" if self.inputs_seen() in self.reject_input:
                error = "Invalid parameter 'type'"
            case "input-send-event":
                self.input.append(args["events"])
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                while self.hold_input:
                    self._release.clear()
                    await self._release.wait()
                self.in_flight -= 1
            case "stop":
                self.status = "paused"
                self.event("STOP")
            case "cont":
                if self.status == "shutdown":
                    error = "Resetting the Virtual Machine is required"
                else:
                    self.status = "running"
                    self.event("RESUME")
            case "system_reset":
                if self.status == "shutdown":
                    self.status = "paused"
                self.event("RESET", {"guest": False, "reason": "host-qmp-system-reset"})
            case "system_powerdown":
                self.event("POWERDOWN")
            case "quit":
                self.status = "shutdown"
                self.event("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})
            case "screendump" if self.screen_link is not None:
                Path(args["filename"]).symlink_to(self.screen_link)
            case "screendump":
                Path(args["filename"]).write_bytes(self.screen)
            case "blockdev-add":
                if args["node-name"] in self.nodes:
                    error = f"Duplicate nodes with node-name='{args['node-name']}'"
                else:
                    self.nodes[args["node-name"]] = args
            case "blockdev-del":
                if self.nodes.pop(args["node-name"], None) is None:
                    error = f"Failed to find node with node-name='{args['node-name']}'"
            case "device_add":
                if args.get("drive") not in self.nodes:
                    error = f"Property 'usb-storage.drive' can't find value '{args.get('drive')}'"
                else:
                    self.devices[args["id"]] = args
            case "device_del":
                if self.devices.pop(args["id"], None) is None:
                    error = f"Device '{args['id']}' not found"
                else:
                    self.event(
                        "DEVICE_DELETED", {"device": args["id"], "path": "/machine/peripheral/x"}
                    )
            case "query-named-block-nodes":
                reply = [
                    {"node-name": n, "file": a["file"]["filename"], "ro": a.get("read-only", False)}
                    for n, a in self.nodes.items()
                ]
            case "query-blockstats":
                reply = [
                    {
                        "device": "",
                        "node-name": n,
                        "qdev": "/machine/peripheral/kvmswitchd-usb/kvmswitchd-usb.0/legacy[0]",
                        "stats": {
                            "rd_operations": self.counters[0],
                            "wr_operations": self.counters[1],
                        },
                    }
                    for n in self.nodes
                ]
            case _:
                error = f"The command {name} has not been found"
        out: dict[str, Any] = (
            {"error": {"class": "GenericError", "desc": error}} if error else {"return": reply}
        )
        if "id" in message:
            out["id"] = message["id"]
        with contextlib.suppress(ConnectionError):
            writer.write(json.dumps(out).encode() + b"\r\n")
            await writer.drain()
        if name == "quit":
            await self.kill()
