"""Adapters that put callcodes inside softswitches; the core never imports them.

Each integration is its own module, imported by name (``callcodes.integrations.kamailio``), so
that importing ``callcodes`` never loads a softswitch's bindings.
"""
