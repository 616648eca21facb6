"""``vanbulk simulator serve``: run the local VAN Bulk Import API simulator in the foreground."""

from __future__ import annotations

import dataclasses

import click

from connector.cli import main


@main.group("simulator")
def simulator() -> None:
    """Local NGP VAN Bulk Import API simulator (see docs/simulator.md)."""


@simulator.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8089, show_default=True, type=int, help="0 picks a free port.")
@click.option("--state", "state_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for the sqlite state and result files (kept across restarts).")
@click.option("--api-key", "api_keys", multiple=True, metavar="[APP:]KEY[;perm=A,B]",
              help="Accepted API key GUID (repeatable); optionally bound to an application name and with "
                   "permission-gated mapping types enabled.")
@click.option("--no-demo-key", is_flag=True, help="Do not accept the documented demo key.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="JSON or YAML file of SimulatorConfig settings.")
def serve(host: str, port: int, state_dir: str, api_keys: tuple[str, ...], no_demo_key: bool,
          config_file: str | None) -> None:
    """Serve /v4/bulkImport* until interrupted."""
    from connector.simulator import SimulatorConfig, SimulatorServer
    from connector.simulator.config import DEMO_KEY, parse_api_key_option

    cfg = SimulatorConfig.load(config_file) if config_file else SimulatorConfig()
    extra = [parse_api_key_option(k) for k in api_keys]
    keys = [k for k in cfg.api_keys if not (no_demo_key and k.key == DEMO_KEY)]
    cfg = dataclasses.replace(cfg, api_keys=[*keys, *extra])
    sim = SimulatorServer(state_dir=state_dir, host=host, port=port, config=cfg)
    sim.start()
    click.echo(f"VAN simulator: {sim.base_url} (state {state_dir}); Ctrl-C to stop")
    try:
        sim.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
