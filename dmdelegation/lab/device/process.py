"""The device process: its state directory opened, the notification endpoint listening, the
schedule running, until SIGTERM or SIGINT (a clean stop: the schedule stops, what runs is
cancelled, the state is closed). SIGUSR1 opens a session with every server at once."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from attrs import frozen
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.web.server import Site

from dmdelegation.lab.device.notify import notify_root
from dmdelegation.lab.device.runner import DeviceRunner
from dmdelegation.lab.device.simulator import SimulatedDevice
from dmdelegation.lab.device.state import DeviceState

log = Logger(namespace="dmdelegation.device")


@frozen
class SimulateOptions:
    state: Path
    notify: str | None = None  # a Twisted server endpoint string
    every: float = 30.0
    codec: str = "xml"
    atomic: bool = True


async def simulate(reactor: Any, options: SimulateOptions) -> DeviceRunner:
    """Start the device in ``reactor``; returns its runner once it is ready (the log says
    ``device DEVID ready``). The reactor's shutdown stops it."""
    state = DeviceState.open(options.state)
    devinfo = state.devinfo()
    device = SimulatedDevice(
        devinfo=devinfo,
        tree=state.tree,
        codec=options.codec,
        atomic=options.atomic,
        nonce_store=state.nonces,
        keep_received=False,
    )
    runner = DeviceRunner(state, device, reactor, options.every)
    port: IListeningPort | None = None
    if options.notify is not None:
        try:
            port = await serverFromString(reactor, options.notify).listen(Site(notify_root(runner)))
        except BaseException:
            state.close()
            raise
        host = port.getHost()
        log.info(
            "notifications on http://{host}:{port}/notify",
            host=getattr(host, "host", "?"),
            port=getattr(host, "port", "?"),
        )

    def stopping() -> Any:
        runner.stop()
        return port.stopListening() if port is not None else None

    reactor.addSystemEventTrigger("before", "shutdown", stopping)
    reactor.addSystemEventTrigger("after", "shutdown", state.close)
    signal.signal(signal.SIGUSR1, lambda *_: reactor.callFromThread(runner.open_all))
    runner.start()
    log.info("device {device_id} ready", device_id=devinfo.dev_id)
    runner.check_bootstrap()
    return runner
