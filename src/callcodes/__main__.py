"""``python -m callcodes``: the same as the ``callcodes`` command."""

from callcodes.cli import main

main(prog_name="callcodes")
