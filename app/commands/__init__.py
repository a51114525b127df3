"""One module per `deskpilot` subcommand: add_arguments(parser) and run(args) -> exit code."""
