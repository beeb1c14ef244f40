"""`cmsim pkcs11-server`: serve the device as a PKCS#11 token to p11-kit's client module."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import click

from host_tools.cli.context import Ctx, pass_ctx
from host_tools.device import Device
from host_tools.pkcs11.server import Pkcs11Server, serve_stdio
from host_tools.pkcs11.token import DeviceLink

__all__ = ["COMMANDS", "pkcs11_server"]


@click.command("pkcs11-server")
@click.option("--port", "device_port", help="Device port (default: the global --port, CMSIM_PORT or the started device).")
@click.option("--socket", "socket_path", type=click.Path(dir_okay=False),
              help="Unix socket to listen on; clients set P11_KIT_SERVER_ADDRESS=unix:path=PATH.")
@click.option("--stdio", is_flag=True,
              help="Serve one client on stdin/stdout instead, for a p11-kit module config's `remote: |command`.")
@click.option("-v", "--verbose", is_flag=True, help="Log each refused call (never a PIN) to stderr.")
@pass_ctx
def pkcs11_server(c: Ctx, device_port: str | None, socket_path: str | None, stdio: bool, verbose: bool) -> None:
    """Serve the device as one PKCS#11 slot and token over p11-kit's RPC protocol.

    Load p11-kit-client.so in the application and point it here with
    P11_KIT_SERVER_ADDRESS=unix:path=PATH. Or, with --stdio, name this command in a p11-kit module
    config (`remote: |cmsim pkcs11-server --stdio`) and load p11-kit-proxy.so: p11-kit starts the
    server for the application. The PIN is operator:password; CKU_SO logs in a Crypto Officer,
    CKU_USER a User. A socket server runs until interrupted (SIGINT or SIGTERM), a --stdio one until its
    client hangs up."""
    if (socket_path is None) == (not stdio):
        raise click.UsageError("give --socket PATH or --stdio (one of them)")
    # The server command is the application: it shows the token's own log (never the PIN) on stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("cmsim pkcs11-server: %(message)s"))
    server_log = logging.getLogger("host_tools.pkcs11")
    server_log.addHandler(handler)
    server_log.setLevel(logging.INFO if verbose else logging.WARNING)
    device = Device.open(device_port, timeout=c.timeout, expect_fingerprint=c.expect_fingerprint) if device_port \
        else c.device()
    if stdio:  # stdout is the protocol: nothing else may be written there
        try:
            serve_stdio(DeviceLink(device))
        finally:
            if device_port:
                device.close()
        return
    assert socket_path is not None
    server = Pkcs11Server(DeviceLink(device), socket_path)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"listening on {socket_path}; clients: export P11_KIT_SERVER_ADDRESS=unix:path={socket_path}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    finally:
        server.close()
        if device_port:
            device.close()


COMMANDS = [pkcs11_server]
