"""Edges of the operator CLI's input handling (shiplog admin ...)."""

from deployment import MAX_VALUE, new_key


def test_secret_value_never_stored_truncated(deploy):
    """A value that fills the read buffer exactly and goes on (here: the maximum,
    CR LF, more bytes) is refused, not stored cut short."""
    d = deploy(new_key())
    tenant = d.create_tenant("trunc")
    d.cli("admin", "secret", "put", "--tenant", tenant, "--name", "n", "--purpose", "p",
          stdin=b"v" * MAX_VALUE + b"\r\nmore", expect=64)
    d.cli("admin", "secret", "check", "--tenant", tenant, "--name", "n", expect=1)
    # exactly the maximum plus CR LF is the maximum
    d.cli("admin", "secret", "put", "--tenant", tenant, "--name", "n", "--purpose", "p",
          stdin=b"v" * MAX_VALUE + b"\r\n")
