"""The `ganlab` app: the root command (`--version`) and the registration of every command."""

from __future__ import annotations

from typing import Annotated

import typer

from ganlab import __version__
from ganlab.cli import (
    arithmetic,
    concept,
    dedup,
    eval,
    export,
    forget,
    import_authors,
    interpolate,
    neighbors,
    prepare,
    probe,
    project,
    report,
    sample,
    train,
    visualize,
)
from ganlab.cli.options import ManyValuesCommand, RootGroup

app = typer.Typer(
    name="ganlab",
    cls=RootGroup,  # keeps the command line for the results' argv
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="DCGAN (Radford, Metz & Chintala, 2016) and its experiments, from a laptop to a "
    "GPU cluster. Run `ganlab COMMAND --help` for each command's options and examples.",
)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        typer.echo(f"ganlab {__version__}")
        raise typer.Exit()


def main() -> None:
    """Console entry point (`ganlab`, `python -m ganlab`)."""
    app(prog_name="ganlab")


# --- one module per command (ganlab/cli/<command>.py), in the order of the paper ------------
app.command("train")(train.train_cli)
app.command("prepare")(prepare.prepare_cli)
app.command("sample")(sample.sample_cli)  # Figs. 2-3
app.command("eval")(eval.eval_cli)  # FID, KID, IS, precision/recall (docs/evaluation.md)
app.command("interpolate", cls=ManyValuesCommand)(interpolate.interpolate_cli)  # Fig. 4
app.add_typer(concept.concept_app, name="concept")  # Figs. 7-8
app.command("arithmetic")(arithmetic.arithmetic_cli)  # Figs. 7-8
app.command("project")(project.project_cli)  # real images into z (Figs. 4, 7-8 on photos)
app.command("probe")(probe.probe_cli)  # Tables 1-2
app.command("dedup")(dedup.dedup_cli)  # section 4.1.1
app.command("neighbors")(neighbors.neighbors_cli)  # Figs. 2-3, memorisation
app.command("visualize")(visualize.visualize_cli)  # Fig. 5
app.command("forget")(forget.forget_cli)  # Fig. 6
app.command("report")(report.report_cli)  # a run on one HTML page
app.command("export")(export.export_cli)  # G (and D) as TorchScript or ONNX
app.add_typer(import_authors.import_app, name="import")  # the authors' released models
