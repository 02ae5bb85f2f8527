"""A relay between an app and PostgreSQL that counts the app's round trips: the Query messages it sends.

psycopg2 sends each execute (and its own BEGIN, COMMIT and ROLLBACK) as one simple-protocol Query message
and waits for the answer, so the Query messages are the round trips. The relay reads the protocol's
framing only (a type byte and a length), and passes every byte on unchanged.
"""

import socket
import struct
import threading

from sqlalchemy.engine import make_url


class QueryCounter:
    """Listens on 127.0.0.1; url_for(url) is url through the relay (no TLS, so that the messages show)."""

    def __init__(self, server_url):
        target = make_url(server_url)
        self.target = (target.host or "127.0.0.1", target.port or 5432)
        self.queries = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def url_for(self, url):
        return make_url(url).set(host="127.0.0.1", port=self.port, query={"sslmode": "disable"})

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self.copy, args=(server, client), daemon=True).start()
            threading.Thread(target=self.relay, args=(client, server), daemon=True).start()

    @staticmethod
    def copy(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def relay(self, client, server):
        """Pass the client's messages to the server, noting the text of each Query."""
        try:
            (length,) = struct.unpack("!i", read_exactly(client, 4))
            server.sendall(struct.pack("!i", length) + read_exactly(client, length - 4))  # startup
            while True:
                header = read_exactly(client, 5)
                kind, length = header[:1], struct.unpack("!i", header[1:])[0]
                body = read_exactly(client, length - 4)
                if kind == b"Q":
                    self.queries.append(body.rstrip(b"\0").decode())
                server.sendall(header + body)
        except (OSError, EOFError):
            server.close()

    def close(self):
        self.listener.close()


def read_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data
