"""The applier: a ``setup_plan`` carried out on a configfs root, and teardown.

``Configfs(roots).setup(ports)`` builds one gadget per gadget port and returns what it
built (the hidg nodes per port); ``teardown()`` removes every ``kvmswitchd-port<N>``
gadget, in the order configfs needs, and nothing else. Both are idempotent: a gadget that
already matches its plan (every attribute, link and the binding) is left alone, one that
differs (the config changed) is torn down and rebuilt, ours that no port wants any more is
removed. A build that fails half-way removes what it made, so the next try starts clean.

Errors name what is missing: configfs not mounted, libcomposite or a function module
absent (``modprobe`` is tried when it exists), no UDC, the configured UDC unknown or busy.
All file operations go through ``files.Files``: the real kernel trees, or a test's stand-in.
"""

from __future__ import annotations

import enum
import errno
import grp
import pwd
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kvmswitchd.config import GadgetConfig
from kvmswitchd.errors import ConfigError, DeviceError
from kvmswitchd.gadget.discovery import hidg_node
from kvmswitchd.gadget.files import Files, OsFiles
from kvmswitchd.gadget.modules import modprobe
from kvmswitchd.gadget.plan import (
    GADGETS,
    Bind,
    ConfigTree,
    GadgetPlan,
    GadgetTree,
    Mkdir,
    Removal,
    Rmdir,
    Step,
    Symlink,
    Unbind,
    Unlink,
    Write,
    setup_plan,
    teardown_plan,
    unit_of,
)
from kvmswitchd.port_config import PortConfig

ModuleLoader = Callable[[str], bool]
Ids = Callable[[str, str], int]  # ("user" or "group", name) -> id

# The LUN attributes the daemon writes (storage.lun.StorageBus); setup gives them to its user.
LUN_ATTRIBUTES = ("file", "ro", "forced_eject")
FUNCTION_MODULES = {"hid": "usb_f_hid", "mass_storage": "usb_f_mass_storage"}


def system_id(kind: str, name: str) -> int:
    """The uid (``kind`` "user") or gid ("group") of ``name``; KeyError if unknown."""
    return pwd.getpwnam(name).pw_uid if kind == "user" else grp.getgrnam(name).gr_gid


class Action(enum.StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    REBUILT = "rebuilt"


@dataclass(frozen=True, slots=True)
class Built:
    """One port's gadget after setup: what the daemon and the operator need."""

    unit: int
    gadget: Path
    udc: str
    keyboard: str  # the hidg nodes
    mouse: str
    lun: Path
    action: Action


@dataclass(frozen=True, slots=True)
class SetupResult:
    built: tuple[Built, ...]
    removed: tuple[str, ...]  # our gadgets no gadget port wants any more


class Configfs:
    """Carries out gadget plans under ``roots.configfs`` (see the module docstring)."""

    def __init__(
        self,
        roots: GadgetConfig,
        files: Files | None = None,
        *,
        load_module: ModuleLoader = modprobe,
        ids: Ids = system_id,
    ) -> None:
        self.roots = roots
        self.files: Files = files or OsFiles()
        self._load_module = load_module
        self._ids = ids

    @property
    def gadgets(self) -> Path:
        return self.roots.configfs / GADGETS

    # -- setup ----------------------------------------------------------------------------

    def setup(self, ports: Iterable[PortConfig]) -> SetupResult:
        wanted = [p for p in ports if p.target == "gadget"]
        if not wanted and not self.files.is_dir(self.gadgets):
            return SetupResult((), ())  # nothing to build, nothing of ours can be there
        self._require_gadget_tree()
        for module in FUNCTION_MODULES.values() if wanted else ():
            self._load_module(module)  # best effort: a missing one is named at its mkdir
        plans = [setup_plan(p) for p in wanted]
        removed = tuple(
            self._remove(name)
            for name in self._ours()
            if unit_of(name) not in {p.unit for p in plans}
        )
        udcs = self._udcs() if plans else []
        self._check_udcs(plans, udcs)
        # First take down every gadget of ours that differs from its plan, so that a
        # UDC one port asks for is free before any port binds (an earlier setup may have
        # given it to a port that takes the first free one).
        reserved = {p.udc for p in plans if p.udc is not None}
        actions: dict[int, Action] = {}
        for plan in plans:
            if not self.files.exists(self._abs(plan.name)):
                actions[plan.unit] = Action.CREATED
            elif self._matches(plan, reserved):
                actions[plan.unit] = Action.UNCHANGED
            else:
                self._remove(Path(plan.name).name)
                actions[plan.unit] = Action.REBUILT
        built = []
        for plan in plans:
            if actions[plan.unit] is Action.UNCHANGED:
                self._own(plan)
            else:
                try:
                    self._build(plan, udcs, plans)
                except BaseException:
                    self._remove(Path(plan.name).name)  # a retry starts from nothing
                    raise
            built.append(self._built(plan, actions[plan.unit]))
        return SetupResult(tuple(built), removed)

    def _require_gadget_tree(self) -> None:
        root = self.roots.configfs
        if self.files.is_dir(self.gadgets):
            return
        self._load_module("libcomposite")  # creates usb_gadget/ on a mounted configfs
        if self.files.is_dir(self.gadgets):
            return
        if not self.files.is_dir(root) or not self.files.is_mount(root):
            raise DeviceError(
                f"configfs is not mounted on {root} "
                f"(mount -t configfs none {root}; systemd: sys-kernel-config.mount)"
            )
        raise DeviceError(
            f"{self.gadgets} is missing: the libcomposite kernel module is not loaded "
            "and could not be loaded (modprobe libcomposite; is USB gadget support "
            "(CONFIG_USB_CONFIGFS) in this kernel?)"
        )

    def _udcs(self) -> list[str]:
        where = self.roots.sysfs / "class" / "udc"
        try:
            names = self.files.listdir(where)
        except OSError:
            names = []
        if not names:
            raise DeviceError(
                f"no USB device controller (UDC) in {where}: this machine has no USB "
                "device/OTG port enabled (e.g. dtoverlay=dwc2 on a Raspberry Pi), or load "
                "dummy_hcd to test without one"
            )
        return names

    def _check_udcs(self, plans: list[GadgetPlan], udcs: list[str]) -> None:
        seen: dict[str, int] = {}
        for plan in plans:
            if plan.udc is None:
                continue
            if plan.udc not in udcs:
                raise ConfigError(
                    f"ports.{plan.unit}.udc",
                    f"no UDC {plan.udc!r} in {self.roots.sysfs}/class/udc "
                    f"(there is: {', '.join(udcs)})",
                )
            if plan.udc in seen:
                raise ConfigError(
                    f"ports.{plan.unit}.udc", f"UDC {plan.udc!r} is port {seen[plan.udc]}'s too"
                )
            seen[plan.udc] = plan.unit

    def _build(self, plan: GadgetPlan, udcs: list[str], plans: list[GadgetPlan]) -> None:
        for step in plan.steps:
            self._step(plan, step, udcs, plans)
        self._own(plan)

    def _own(self, plan: GadgetPlan) -> None:
        """Owner and mode of the nodes and LUN attributes, set on every setup (cheap, and
        the config's owner may have changed while the gadget stayed as it was)."""
        uid, gid = self._owner(plan)
        # The daemon's user opens the hidg nodes and loads images into the LUN.
        owned = [
            hidg_node(self.roots, self._abs(f), self.files) for f in (plan.keyboard, plan.mouse)
        ]
        owned += [self._abs(plan.lun) / name for name in LUN_ATTRIBUTES]
        for path in owned:
            try:
                self.files.chown(path, uid, gid)
                self.files.chmod(path, plan.ownership.mode)
            except OSError as exc:
                raise DeviceError(f"{path}: cannot set owner/mode: {exc.strerror or exc}") from None

    def _owner(self, plan: GadgetPlan) -> tuple[int, int]:
        own = plan.ownership
        out = []
        for key, kind, name in (
            ("hidg_user", "user", own.user),
            ("hidg_group", "group", own.group),
        ):
            try:
                out.append(0 if name is None else self._ids(kind, name))
            except KeyError:
                raise ConfigError(f"ports.{plan.unit}.{key}", f"no {kind} {name!r} here") from None
        return out[0], out[1]

    def _step(self, plan: GadgetPlan, step: Step, udcs: list[str], plans: list[GadgetPlan]) -> None:
        path = self._abs(step.path)
        try:
            match step:
                case Mkdir():
                    if not self.files.is_dir(path):
                        self.files.mkdir(path)
                case Write(value=value):
                    self.files.write(path, value if isinstance(value, bytes) else value.encode())
                case Symlink(target=target):
                    if not self.files.is_link(path):
                        self.files.symlink(path, self._abs(target))
                case Bind():
                    self._bind(plan, path, udcs, plans)
        except OSError as exc:
            raise self._explain(plan, step, exc) from None

    def _bind(self, plan: GadgetPlan, path: Path, udcs: list[str], plans: list[GadgetPlan]) -> None:
        bound = self._bindings()
        if plan.udc is not None:
            udc = plan.udc
            holder = bound.get(udc)
            if holder is not None and holder != Path(plan.name).name:
                raise DeviceError(
                    f"port {plan.unit}: UDC {udc} is busy: gadget {holder} is bound to it"
                )
        else:
            reserved = {p.udc for p in plans if p.udc is not None and p is not plan}
            free = [u for u in udcs if u not in bound and u not in reserved]
            if not free:
                users = ", ".join(f"{u} ({bound[u]})" for u in udcs if u in bound)
                raise DeviceError(
                    f"port {plan.unit}: no free UDC: {users or ', '.join(udcs)} already in use"
                )
            udc = free[0]
        self.files.write(path, udc.encode())

    def _bindings(self) -> dict[str, str]:
        """UDC name → the gadget (ours or not) bound to it."""
        out: dict[str, str] = {}
        for name in self._listdir(self.gadgets):
            udc = self._text(self.gadgets / name / "UDC")
            if udc:
                out[udc] = name
        return out

    def _explain(self, plan: GadgetPlan, step: Step, exc: OSError) -> DeviceError:
        why = exc.strerror or str(exc)
        if isinstance(step, Mkdir) and exc.errno == errno.ENOENT and "/functions/" in step.path:
            kind = Path(step.path).name.split(".", 1)[0]
            module = FUNCTION_MODULES.get(kind, kind)
            return DeviceError(
                f"port {plan.unit}: the kernel has no {kind} gadget function: the {module} "
                f"module is missing (modprobe {module})"
            )
        if isinstance(step, Bind) and exc.errno == errno.EBUSY:
            return DeviceError(f"port {plan.unit}: the UDC is busy (bound to another gadget)")
        if isinstance(step, Bind) and exc.errno == errno.ENODEV:
            return DeviceError(f"port {plan.unit}: the UDC went away ({why})")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return DeviceError(f"{self._abs(step.path)}: {why}: gadget setup must run as root")
        return DeviceError(f"port {plan.unit}: {self._abs(step.path)}: {why}")

    def _matches(self, plan: GadgetPlan, reserved: set[str]) -> bool:
        """The gadget is as ``plan`` builds it: every directory, value, link, the binding
        (a port taking the first free UDC must not sit on one another port asks for)."""
        for step in plan.steps:
            path = self._abs(step.path)
            match step:
                case Mkdir():
                    ok = self.files.is_dir(path)
                case Write(value=value):
                    ok = _same(self._read(path), value)
                case Symlink():
                    ok = self.files.is_link(path)
                case Bind(udc=udc):
                    now = self._text(path)
                    ok = bool(now) and (now == udc if udc is not None else now not in reserved)
            if not ok:
                return False
        return True

    def _built(self, plan: GadgetPlan, action: Action) -> Built:
        keyboard = hidg_node(self.roots, self._abs(plan.keyboard), self.files)
        mouse = hidg_node(self.roots, self._abs(plan.mouse), self.files)
        return Built(
            unit=plan.unit,
            gadget=self._abs(plan.name),
            udc=self._text(self._abs(plan.name) / "UDC"),
            keyboard=str(keyboard),
            mouse=str(mouse),
            lun=self._abs(plan.lun),
            action=action,
        )

    # -- teardown ---------------------------------------------------------------------------

    def teardown(self) -> tuple[str, ...]:
        """Remove every gadget of ours; the names removed (none: nothing was there)."""
        if not self.files.is_dir(self.gadgets):
            return ()
        return tuple(self._remove(name) for name in self._ours())

    def _ours(self) -> list[str]:
        return [n for n in self._listdir(self.gadgets) if unit_of(n) is not None]

    def _remove(self, name: str) -> str:
        g = self.gadgets / name
        if not self.files.exists(g):
            return name
        for removal in teardown_plan(self._tree(name)):
            self._undo(removal)
        return name

    def _tree(self, name: str) -> GadgetTree:
        g = self.gadgets / name
        configs = []
        for config in self._listdir(g / "configs"):
            c = g / "configs" / config
            links = tuple(n for n in self._listdir(c) if self.files.is_link(c / n))
            configs.append(ConfigTree(config, links, tuple(self._listdir(c / "strings"))))
        return GadgetTree(
            name=f"{GADGETS}/{name}",
            bound=bool(self._text(g / "UDC")),
            configs=tuple(configs),
            functions=tuple(self._listdir(g / "functions")),
            strings=tuple(self._listdir(g / "strings")),
        )

    def _undo(self, removal: Removal) -> None:
        path = self._abs(removal.path)
        try:
            match removal:
                case Unbind():
                    self.files.write(path, b"")
                case Unlink():
                    self.files.unlink(path)
                case Rmdir():
                    self.files.rmdir(path)
        except FileNotFoundError:
            pass  # already gone: teardown is idempotent
        except OSError as exc:
            if isinstance(removal, Unbind) and exc.errno == errno.ENODEV:
                return  # not bound after all
            raise DeviceError(f"{path}: cannot remove: {exc.strerror or exc}") from None

    # -- reading ----------------------------------------------------------------------------

    def _abs(self, relative: str) -> Path:
        return self.roots.configfs / relative

    def _listdir(self, path: Path) -> list[str]:
        try:
            return self.files.listdir(path)
        except OSError:
            return []

    def _read(self, path: Path) -> bytes | None:
        try:
            return self.files.read(path)
        except OSError:
            return None

    def _text(self, path: Path) -> str:
        data = self._read(path)
        return data.decode("utf-8", "replace").strip() if data else ""


def _same(current: bytes | None, wanted: str | bytes) -> bool:
    if current is None:
        return False
    if isinstance(wanted, bytes):
        return current == wanted
    text = current.decode("utf-8", "replace").rstrip("\n")
    if text == wanted:
        return True
    try:
        return int(text, 0) == int(wanted, 0)
    except ValueError:
        return False
