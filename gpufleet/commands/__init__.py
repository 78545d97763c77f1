"""One module per ``gpufleet`` subcommand, each with ``register(subparsers)``.

The CLI discovers them: adding a command is adding a module here.
"""
