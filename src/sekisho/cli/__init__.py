"""The ``sekisho`` command.  Command modules parse arguments and print; the work is done by services.

Every :class:`~sekisho.errors.SekishoError` ends the command with one line on stderr and the error's exit
code (2 for bad input, 3 for a refusal, 4 for failed verification, 5 for an unavailable party).
"""

from __future__ import annotations

import sys
from typing import Any

import typer
import typer.core

from sekisho.errors import ErrorList, SekishoError


class _Group(typer.core.TyperGroup):
    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except SekishoError as exc:
            # plain writes: Rich would wrap a long message over several lines
            sys.stderr.write(f"sekisho: error: {exc.diagnostics()}\n")
            if isinstance(exc, ErrorList):
                for line in exc.lines():
                    sys.stderr.write(f"  {line}\n")
            # typer vendors its own click (typer._click): click.exceptions.Exit would escape its runner
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_Group,
    name="sekisho",
    help="Sekisho (関所): a resident registry network without a universal number.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # each bounded context contributes its own command group; imported here, not at package import,
    # so that `import sekisho.cli` stays cheap for the modules that only need the helpers
    from sekisho.cli import clerk as _clerk  # noqa: F401  (adds the clerk's commands to `registry`)
    from sekisho.cli import registry as registry_cli

    registry_cli.register(app)
    __import__("sekisho.cli.network", fromlist=["register"]).register(app)
    from sekisho.cli import pki as pki_cli

    pki_cli.register(app)
    __import__("sekisho.cli.log", fromlist=["register"]).register(app)
    __import__("sekisho.cli.synth", fromlist=["register"]).register(app)
    __import__("sekisho.cli.policy", fromlist=["register"]).register(app)  # pia, warrant, protection, alerts
    # agency commands, and the register's join-network / deliver-notices
    __import__("sekisho.cli.agency", fromlist=["register"]).register(app)
    __import__("sekisho.cli.demo", fromlist=["register"]).register(app)
    __import__("sekisho.cli.serve", fromlist=["register"]).register(app)  # serve, up, down, status
    __import__("sekisho.cli.login", fromlist=["register"]).register(app)  # the unlinkable card login
    __import__("sekisho.cli.credentials", fromlist=["register"]).register(app)  # credentials, wallet, verify
    __import__("sekisho.cli.certificate", fromlist=["register"]).register(app)  # certificates of residence
    __import__("sekisho.cli.portal", fromlist=["register"]).register(app)  # the web portal's accounts


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
