"""The suite must never reach beyond loopback."""

import socket

import pytest


@pytest.mark.filterwarnings("ignore:A test tried to use socket")  # the warning is the point here
def test_outside_connections_are_blocked():
    with pytest.raises(Exception, match=r"(?i)socket|host|connect"):
        socket.create_connection(("93.184.216.34", 80), timeout=2)


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    client.close()
    server.close()
