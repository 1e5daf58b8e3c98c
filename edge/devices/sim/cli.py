"""``shegong sim DEVICE [ACTION] [VALUE]``: device simulators on a real pty, and their remote control.

Without an action a simulator runs in the foreground, prints its pty and link paths, and serves until
interrupted; actions talk to the running one through ``<link>.ctl``::

    shegong sim id-reader --link /tmp/shegong-sim/id-reader &
    shegong sim id-reader place --identity wang-xiuying
    shegong sim id-reader fail --step read --status 41
    shegong sim id-reader sam-fail on | silent on | garbage --size 64 | unplug | replug | remove
    shegong sim printer &  ;  shegong sim printer paper-out on  ;  shegong sim printer receipts
    shegong sim scanner &  ;  shegong sim scanner scan 'https://…'
    shegong sim sscard build --dir D  ;  shegong sim sscard place --identity ma-li --dir D
    shegong sim identities
"""

from __future__ import annotations

import json
import signal
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click

from edge.devices.sim.control import ControlServer, control_path, send
from edge.devices.sim.identities import all_identities
from edge.devices.sim.idreader import IdReaderSim
from edge.devices.sim.printer import PrinterSim
from edge.devices.sim.scanner import ScannerSim
from edge.devices.sim.sscard import SSCardSim

__all__ = ["sim"]

_SIMS = {"id-reader": IdReaderSim, "printer": PrinterSim, "scanner": ScannerSim}
_ACTIONS = {
    "id-reader": ["place", "remove", "fail", "sam-fail", "silent", "garbage", "unplug", "replug", "state"],
    "printer": ["paper-out", "cover-open", "paper-low", "receipts", "unplug", "replug"],
    "scanner": ["scan", "unplug", "replug"],
    "sscard": ["build", "place", "remove", "unplug", "hang"],
}
_SUFFIX = {"cr": "\r", "lf": "\n", "crlf": "\r\n"}


def _default_dir() -> Path:
    """The folder given to ``shegong sim --dir`` (or ``SHEGONG_SIM_DIR``)."""
    found = click.get_current_context().find_object(dict)
    return Path(found["dir"]) if found else Path(tempfile.gettempdir()) / "shegong-sim"


@click.group()
@click.option(
    "--dir",
    "folder",
    envvar="SHEGONG_SIM_DIR",
    type=click.Path(path_type=Path),
    default=Path(tempfile.gettempdir()) / "shegong-sim",
    show_default=True,
    help="where the simulators' pty links and control files go (or SHEGONG_SIM_DIR)",
)
@click.pass_context
def sim(ctx: click.Context, folder: Path) -> None:
    """Device simulators on a real pty."""
    ctx.ensure_object(dict)["dir"] = folder


def _device_command(device: str, actions: list[str]) -> click.Command:
    """``shegong sim DEVICE [ACTION] [VALUE]`` with the options that device's actions take."""
    params: list[click.Parameter] = [
        click.Argument(["action"], required=False, type=click.Choice(actions)),
        click.Argument(["value"], required=False),
    ]
    if device == "sscard":
        params.append(
            click.Option(["--dir"], type=click.Path(path_type=Path), help="library and control file directory")
        )
        params.append(click.Option(["--ms"], type=int, default=5000, help="hang: milliseconds each call blocks"))
    else:
        where = f"{device} in the folder of shegong sim --dir"
        params.append(
            click.Option(["--link"], type=click.Path(path_type=Path), help=f"symlink to the pty (default {where})")
        )
    params.append(click.Option(["--identity"], help="test identity key or name (see `shegong sim identities`)"))
    if device == "id-reader":
        params += [
            click.Option(
                ["--step"], type=click.Choice(["find", "select", "read"]), default="read", help="fail: which step"
            ),
            click.Option(["--status"], default="41", help="fail: SW3 in hex (default 41, read failed)"),
            click.Option(["--times"], type=int, default=1, help="fail: how many times"),
            click.Option(["--size"], type=int, default=32, help="garbage: bytes of noise"),
        ]
    if device == "scanner":
        params.append(
            click.Option(["--suffix"], type=click.Choice(sorted(_SUFFIX)), default="cr", help="scan: line ending")
        )

    def callback(**kwargs: Any) -> int:
        return _act(SimpleNamespace(device=device, **kwargs))

    return click.Command(
        device,
        params=params,
        callback=callback,
        help=f"{device} simulator (no action: run it). ACTION acts on the running simulator; VALUE is on/off for "
        "switches, the text for scan.",
        short_help=f"{device} simulator (no action: run it)",
    )


for _device, _actions in _ACTIONS.items():
    sim.add_command(_device_command(_device, _actions))


@sim.command()
def identities() -> int:
    """List the test identities."""
    for p in all_identities():
        print(f"{p.key:14} {p.name}\t{p.id_number}  {p.address}")
    return 0


def _act(ns: SimpleNamespace) -> int:
    if ns.device == "sscard":
        return _sscard(ns)
    link: Path = ns.link or _default_dir() / ns.device
    if ns.action is None:
        return _run(ns.device, link, ns.identity)
    args: dict[str, Any] = {}
    if ns.action in ("sam-fail", "silent", "paper-out", "cover-open", "paper-low"):
        args["on"] = (ns.value or "on") not in ("off", "0", "false")
    elif ns.action == "place":
        args["identity"] = ns.identity or ns.value or "zhang-wei"
    elif ns.action == "fail":
        args.update(step=ns.step, status=int(ns.status, 16), times=ns.times)
    elif ns.action == "garbage":
        args["size"] = ns.size
    elif ns.action == "scan":
        args.update(text=ns.value or "", suffix=_SUFFIX[ns.suffix])
    result = send(control_path(link), ns.action, **args)
    if result is not None:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def _run(device: str, link: Path, identity: str | None) -> int:
    link.parent.mkdir(parents=True, exist_ok=True)
    sim = _SIMS[device](link)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with sim:
        if identity and isinstance(sim, IdReaderSim):
            sim.place(identity)
        control = ControlServer(control_path(link), sim.control_handlers()).start()
        print(f"pty {sim.port.slave_path}\nlink {link}\ncontrol {control.path}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            control.stop()
    return 0


def _sscard(ns: SimpleNamespace) -> int:
    sim = SSCardSim(ns.dir or _default_dir() / "sscard")
    action = ns.action or "build"
    if action == "build":
        print(f"library {sim.build()}\ncontrol {sim.control}", flush=True)
    elif action == "place":
        print(sim.place(ns.identity or ns.value or "zhang-wei").key)
    elif action == "remove":
        sim.remove()
    elif action == "unplug":
        sim.fail(-11, "读卡器连接错")
    elif action == "hang":
        sim.hang(ns.ms)
    return 0


if __name__ == "__main__":
    sim.main(prog_name="shegong sim")
