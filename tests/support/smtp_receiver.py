"""A real SMTP server on loopback for the alert tests (tests/it/alerts.rs).

It requires STARTTLS, then AUTH (PLAIN or LOGIN) with the given user and password, and
writes every message it accepts to OUT_DIR as NNN.eml. Its certificate for 127.0.0.1 is
signed by a throwaway CA written to OUT_DIR/ca.pem, which the test gives tierwatch as
smtp_ca_file.

    python smtp_receiver.py OUT_DIR USER PASSWORD

Prints "LISTENING <port>" once ready, then serves until killed.
"""

import datetime
import ipaddress
import os
import socket
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def certificate(subject, issuer_name, issuer_key, public_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def test_tls(out_dir):
    """A throwaway CA (written to ca.pem) and a server certificate for 127.0.0.1 it signed."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tierwatch test CA")])
    ca = certificate(ca_name, ca_name, ca_key, ca_key.public_key(), ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = certificate(name, ca_name, ca_key, key.public_key(), ca=False)
    pem = serialization.Encoding.PEM
    with open(os.path.join(out_dir, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(pem))
    cert_path = os.path.join(out_dir, "server.pem")
    key_path = os.path.join(out_dir, "server-key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


class Saver:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.out_dir, f"{self.count:03}.eml")
        with open(path + ".partial", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".partial", path)
        return "250 Message accepted for delivery"


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        return AuthResult(success=ok)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    out_dir, user, password = sys.argv[1:4]
    context = test_tls(out_dir)
    port = free_port()
    controller = Controller(
        Saver(out_dir),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=Authenticator(user, password),
        auth_require_tls=True,
        auth_required=True,
    )
    controller.start()
    print(f"LISTENING {port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
