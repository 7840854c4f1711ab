"""`ganlab report`: parse and validate the options, then call `ganlab.experiments.report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import JsonOpt, QuietOpt, RunArg, report, user_errors


@user_errors
def report_cli(
    run: RunArg,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", "-o", help="The HTML file to write (default: RUN/report.html).", dir_okay=False
        ),
    ] = None,
    open_: Annotated[
        bool, typer.Option("--open", help="Open the report in the default web browser.")
    ] = False,
    tensorboard: Annotated[
        bool,
        typer.Option(
            "--tensorboard",
            help="Also convert metrics.jsonl and the grids into RUN/tb for TensorBoard (needs "
            "ganlab's tb extra, i.e. the tensorboard package).",
        ),
    ] = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a run's report: one self-contained HTML page (plots, grids, the paper's
    experiments found in the run directory, warnings, config), safe to open from disk or mail.

    Examples:

      ganlab report runs/digits --open

      ganlab report runs/digits --out digits.html --tensorboard
    """
    from ganlab.experiments.report import report as write_report
    from ganlab.progress import Reporter

    if out is not None and out.suffix.lower() not in (".html", ".htm"):
        raise typer.BadParameter(f"{out}: the report is an .html file", param_hint="'--out'")
    result = write_report(run, out=out, tensorboard=tensorboard, reporter=Reporter(quiet=quiet))
    report(result, json_out, None if quiet else f"wrote {result.out} in {result.elapsed_s:.1f}s")
    if open_:
        import webbrowser

        webbrowser.open(Path(result.out).resolve().as_uri())
