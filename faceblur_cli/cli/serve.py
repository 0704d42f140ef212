"""``faceblur serve``: the REST API and web page of :mod:`faceblur_cli.serve` on uvicorn."""

from __future__ import annotations

import typer

from ..extras import install_hint
from .app import _Command, app, console, friendly

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command(cls=_Command)
@friendly
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (others than 127.0.0.1 want --token)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    model: str = typer.Option("auto", "--model", "-m", help="The default model: auto | a registry name."),
    backend: str = typer.Option("auto", "--backend", help="auto | torch | onnx | onnx-int8 (as for deblur)."),
    token: str | None = typer.Option(
        None, "--token", envvar="FACEBLUR_TOKEN", help="Every /v1 call needs 'Authorization: Bearer TOKEN'."
    ),
    max_upload_mb: int = typer.Option(50, "--max-upload-mb", min=1, max=4096, help="Largest photo upload (413)."),
    max_pixels: int = typer.Option(89_478_485, "--max-pixels", min=1, max=2**40, help="Largest image (413)."),
    queue: int = typer.Option(16, "--queue", min=1, max=10_000, help="Photos waiting or running before 503."),
    timeout: float = typer.Option(120.0, "--timeout", min=1.0, help="Seconds a photo may take before 504."),
    threads: int | None = typer.Option(None, "--threads", min=1, max=1024, help="CPU threads for the network."),
):
    """Serve the REST API (/v1, OpenAPI at /docs) and the web page (/), offline; Ctrl-C stops it."""
    try:
        import uvicorn

        from ..serve.app import create_app
        from ..serve.limits import Limits
    except ImportError:
        raise ValueError(f"faceblur serve needs FastAPI and uvicorn: {install_hint('serve')}") from None
    if host not in LOOPBACK and not token:
        console.print(
            f"[yellow]warning:[/] listening on {host} without --token: anyone who can reach it can use it",
            highlight=False,
        )
    limits = Limits(max_upload=max_upload_mb << 20, max_pixels=max_pixels, queue=queue, timeout=timeout)
    application = create_app(model, backend, token, limits, threads)
    console.print(f"faceblur serving on http://{host}:{port}/ (API docs at /docs)", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="warning", timeout_keep_alive=5)
