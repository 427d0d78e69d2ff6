#!/usr/bin/env python3
"""A small SMTP server for the integration tests (scripts/smtp.sh installs and runs it).

    smtp_server.py --port PORT --dir DIR [--host 127.0.0.1]

What it does:

- ESMTP on HOST:PORT without TLS (no STARTTLS), with AUTH PLAIN and LOGIN offered in plain text.
  One account: user ``trailwatch``, password ``trailwatch-test-password``. AUTH is optional (mail
  without it is accepted); a wrong password gets ``535 5.7.8 Authentication credentials invalid``.
- Every accepted message becomes two files in DIR, numbered from 1 (after the highest number
  already there): ``<n>.json``, the envelope (``mail_from``, ``rcpt_tos``, ``auth_user`` (null
  without AUTH), ``peer``), then ``<n>.eml``, the message exactly as received (RFC 5322, CRLF line
  ends). The ``.eml`` is renamed into place last, so a reader that sees it finds both complete.
- Failures on demand, per recipient (RCPT TO): an address that starts with ``fail4xx@`` gets
  ``451 4.3.0 try later``, one that starts with ``fail5xx@`` gets ``550 5.1.1 no such user``.

Logs to stderr; prints ``ready on HOST:PORT`` once it listens. Stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER = b"trailwatch"
PASSWORD = b"trailwatch-test-password"
# The greeting is "220 <HOSTNAME> <IDENT>"; scripts/smtp.sh recognises the server by IDENT.
HOSTNAME = "localhost"
IDENT = "trailwatch-test-smtp"


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data == (USER, PASSWORD):
        return AuthResult(success=True, auth_data=USER.decode())
    # handled=False: let aiosmtpd send its 535 (the default, handled=True, sends no reply at all).
    return AuthResult(success=False, handled=False)


class Mailbox:
    def __init__(self, directory):
        self.dir = directory
        numbers = [
            int(m.group(1))
            for name in os.listdir(directory)
            if (m := re.fullmatch(r"(\d+)\.(eml|json)", name))
        ]
        self.next = max(numbers, default=0) + 1

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        lower = address.lower()
        if lower.startswith("fail4xx@"):
            return "451 4.3.0 try later"
        if lower.startswith("fail5xx@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # One event loop, no await below: the number cannot be taken twice.
        n = self.next
        self.next += 1
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": session.auth_data if session.authenticated else None,
            "peer": list(session.peer) if session.peer else None,
        }
        base = os.path.join(self.dir, str(n))
        with open(base + ".json", "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.tmp", base + ".eml")
        logging.info("message %d from %s to %s", n, envelope.mail_from, envelope.rcpt_tos)
        return "250 2.0.0 OK: queued as %d" % n


async def serve(host, port, directory):
    loop = asyncio.get_running_loop()
    handler = Mailbox(directory)

    def protocol():
        return SMTP(
            handler,
            hostname=HOSTNAME,  # else socket.getfqdn(), which can stall without DNS
            ident=IDENT,
            auth_require_tls=False,  # else AUTH is neither offered nor accepted without TLS
            authenticator=authenticator,
            loop=loop,
        )

    server = await loop.create_server(protocol, host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready on %s:%d" % (host, port), file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()
    logging.info("stopped")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True, help="where received messages are written")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    # aiosmtpd 1.4 warns on every successful AUTH that Session.login_data (which it sets itself)
    # is deprecated.
    logging.getLogger("mail.log").addFilter(
        lambda record: "login_data is deprecated" not in record.getMessage()
    )
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
