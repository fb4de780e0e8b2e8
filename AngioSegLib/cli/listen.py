"""`angioseg listen`: a DICOM node that segments every XA instance it receives (C-STORE SCP) and
sends the SEG + SR on (C-STORE SCU); Ctrl-C or SIGTERM stop it after the run in progress."""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

import typer

from AngioSegLib.cli import stage_options as so


def _log(line: str) -> None:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} angioseg listen: {line}", file=sys.stderr, flush=True)


def listen(
    ae_title: str = typer.Option(..., "--ae-title", help="This node's AE title (≤ 16 characters)."),
    port: int = typer.Option(..., "--port", help="TCP port to listen on."),
    send_to: str = typer.Option(
        ..., "--send-to", help="Where SEG + SR go: AET@host:port (a PACS or workstation)."
    ),
    host: str = typer.Option("0.0.0.0", "--host", help="Address to listen on (127.0.0.1: local)."),
    queue_size: int = typer.Option(4, "--queue-size", help="Instances waiting at most; more are "
                                   "refused (0xA700) until the queue drains."),
    output_dir: Path = typer.Option(
        None, "--output-dir", help="Keep every run's outputs here, one folder per SOP Instance UID."
    ),
    model: str = so.MODEL,
    device: str = so.DEVICE,
    backend: str = so.BACKEND,
    precision: str = so.PRECISION,
    threads: int = so.THREADS,
    timeout: float = typer.Option(30.0, "--timeout", help="DICOM network timeout (s)."),
) -> None:
    """Run a DICOM node: segment each received XA instance, send its SEG + SR to --send-to."""
    from AngioSegLib.pacs.listen import Listener, ListenOptions
    from AngioSegLib.pacs.node import parse_node
    from AngioSegLib.pipeline import PipelineOptions
    from AngioSegLib.segment.options import InferenceOptions

    inference = InferenceOptions(device=device, backend=backend, precision=precision,
                                 threads=threads)
    options = ListenOptions(
        ae_title=ae_title, port=port, destination=parse_node(send_to), host=host,
        queue_size=queue_size, output_dir=output_dir, timeout_s=timeout,
        pipeline=PipelineOptions(model=model, inference=inference),
    )
    listener = Listener(options, log=_log)
    listener.start()
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        _log("stopping after the run in progress (Ctrl-C again to abort it)")
    finally:
        listener.stop()


def register(app: typer.Typer) -> None:
    """Add ``listen`` to ``app``."""
    app.command("listen")(listen)
