"""A throwaway Synapse homeserver on loopback, for the demo and the test suite.

Synapse is installed on demand into its own virtual environment (never a runtime dependency
of the bot): ``ORGANIZER_SYNAPSE_VENV`` or ``~/.cache/organizer-bot/synapse-venv``. The server
binds 127.0.0.1 only, trusts no key servers (no network), and is stopped by its own PID.

:meth:`LocalSynapse.federating` makes a server that federates with others on loopback (the
test suite's second homeserver): a TLS federation listener with a throwaway self-signed
certificate, and a server name ``localhost:<that port>``, so peers connect to it directly (a name
with an explicit port needs no ``.well-known`` or SRV lookup). docs/operations.md says what it needs.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYNAPSE_SPEC = "matrix-synapse>=1.120"
GENEROUS = {"per_second": 1000, "burst_count": 1000}


def synapse_python() -> Path:
    """The Python of a venv with Synapse, created and installed if missing (by one process at a
    time: parallel test workers and a demo started beside the tests share the venv)."""
    venv = Path(os.environ.get("ORGANIZER_SYNAPSE_VENV", Path.home() / ".cache/organizer-bot/synapse-venv"))
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import synapse"]
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
            return python
        print(f"Installing Synapse (test homeserver) into {venv} …", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", SYNAPSE_SPEC],
                       check=True)
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _yaml(value: Any) -> str:
    """JSON is valid YAML: write the config without a YAML dependency."""
    return json.dumps(value, indent=2)


@dataclass
class LocalSynapse:
    directory: Path
    port: int = field(default_factory=free_port)
    server_name: str = "localhost"
    rc_message: dict[str, float] = field(default_factory=lambda: dict(GENEROUS))
    process: subprocess.Popen[bytes] | None = None
    shared_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    bcrypt_rounds: int = 12  # Synapse's default; the launch bench lowers it to register 1,000 users quickly
    access_log: bool = False  # one line per request with its CPU time (bench/launch.py --synapse-cost)
    database: dict[str, Any] | None = None  # homeserver.yaml's database section; None: SQLite in the directory
    federation_port: int | None = None  # a TLS federation listener on this port (see federating())
    _admin_token: str | None = None

    @classmethod
    def federating(cls, directory: Path, **kwargs: Any) -> LocalSynapse:
        """A server other loopback servers made this way federate with, named after its federation port."""
        port = free_port()
        return cls(directory, federation_port=port, server_name=f"localhost:{port}", **kwargs)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.directory / "homeserver.yaml"

    def _client_listeners(self) -> list[dict[str, Any]]:
        return [{"port": self.port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
                 "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}]

    def write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        d = self.directory.resolve()
        log_config = d / "log.config"
        log_config.write_text(_yaml({
            "version": 1,
            "formatters": {"f": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {"file": {"class": "logging.FileHandler", "filename": str(d / "homeserver.log"),
                                  "formatter": "f"}},
            "root": {"level": "WARNING", "handlers": ["file"]},
            "loggers": {"synapse.access.http": {"level": "INFO"}} if self.access_log else {},
            "disable_existing_loggers": False,
        }))
        limits = {"per_second": 1000, "burst_count": 1000}
        config = {
            "server_name": self.server_name,
            "pid_file": str(d / "homeserver.pid"),
            "listeners": self._client_listeners(),
            "database": self.database or {"name": "sqlite3", "args": {"database": str(d / "homeserver.db")}},
            "log_config": str(log_config),
            "media_store_path": str(d / "media"),
            "signing_key_path": str(d / "signing.key"),
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": secrets.token_urlsafe(32),
            "form_secret": secrets.token_urlsafe(32),
            "report_stats": False,
            "bcrypt_rounds": self.bcrypt_rounds,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "enable_registration": False,
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "rc_message": self.rc_message,
            "rc_registration": limits,
            "rc_login": {"address": limits, "account": limits, "failed_attempts": limits},
            "rc_joins": {"local": limits, "remote": limits},
            "rc_joins_per_room": limits,
            "rc_invites": {"per_room": limits, "per_user": limits, "per_issuer": limits},
            "rc_admin_redaction": limits,
            "rc_key_requests": limits,
            "rc_room_creation": limits,
            "rc_3pid_validation": limits,
            "rc_delayed_event_mgmt": limits,
            "rc_presence": {"per_user": limits},
        }
        if self.federation_port is not None:
            config.update(self._federation_config(d))
        self.config_path.write_text(_yaml(config))

    def _federation_config(self, d: Path) -> dict[str, Any]:
        """What federating over loopback needs besides the defaults: a TLS listener (Synapse
        speaks federation over HTTPS only), no certificate checks on outbound requests (the
        peer's certificate is self-signed), and loopback allowed as a federation destination
        (Synapse's default ``ip_range_blacklist`` holds 127.0.0.0/8)."""
        assert self.federation_port is not None
        _self_signed_certificate(d / "tls.crt", d / "tls.key")
        listener = {"port": self.federation_port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": True,
                    "x_forwarded": False, "resources": [{"names": ["federation"], "compress": False}]}
        many = 1000
        return {
            "listeners": [*self._client_listeners(), listener],
            "tls_certificate_path": str(d / "tls.crt"),
            "tls_private_key_path": str(d / "tls.key"),
            "federation_verify_certificates": False,
            "ip_range_whitelist": ["127.0.0.1"],
            "rc_federation": {"window_size": 1000, "sleep_limit": many, "sleep_delay": 0, "reject_limit": many,
                              "concurrent": many},
        }

    def start(self, timeout: float = 60) -> LocalSynapse:
        python = synapse_python()
        if not self.config_path.exists():
            self.write_config()
            subprocess.run([str(python), "-m", "synapse.app.homeserver", "-c", str(self.config_path),
                            "--generate-keys"], check=True, capture_output=True)
        log = open(self.directory / "stdout.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [str(python), "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Synapse exited early; see {self.directory / 'homeserver.log'}")
            try:
                with urllib.request.urlopen(self.url + "/_matrix/client/versions", timeout=2):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("Synapse did not answer in time")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def set_rc_message(self, per_second: float, burst_count: int) -> None:
        """Change the message rate limit (takes effect on the next start)."""
        self.rc_message = {"per_second": per_second, "burst_count": burst_count}
        config = json.loads(self.config_path.read_text())
        config["rc_message"] = self.rc_message
        self.config_path.write_text(_yaml(config))

    # ------------------------------------------------------------ users

    def register(self, localpart: str, password: str, admin: bool = False) -> str:
        """Register a user through the shared-secret admin API; returns the Matrix ID."""
        return str(self.register_session(localpart, password, admin)["user_id"])

    def register_session(self, localpart: str, password: str, admin: bool = False) -> dict[str, Any]:
        """Register a user; the homeserver's answer: ``user_id``, ``access_token``, ``device_id``."""
        endpoint = self.url + "/_synapse/admin/v1/register"
        with urllib.request.urlopen(endpoint, timeout=10) as response:
            nonce = json.load(response)["nonce"]
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin,
                "mac": _hexmac(self.shared_secret, nonce, localpart, password, admin)}
        request = urllib.request.Request(endpoint, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.load(response)
            return answer

    def admin_token(self) -> str:
        """An access token of a server admin, registered on first use."""
        if self._admin_token is None:
            self._admin_token = str(self.register_session(f"hsadmin{secrets.token_hex(3)}",
                                                          secrets.token_urlsafe(16), admin=True)["access_token"])
        return self._admin_token

    def admin_request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A call to Synapse's admin API as a server admin."""
        request = urllib.request.Request(self.url + path, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {self.admin_token()}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.load(response)
            return answer

    def exempt_from_ratelimit(self, user_id: str) -> None:
        """What docs/operations.md tells a homeserver admin to do for the bot account."""
        path = "/_synapse/admin/v1/users/" + urllib.parse.quote(user_id) + "/override_ratelimit"
        self.admin_request("POST", path, {"messages_per_second": 0, "burst_count": 0})


def _self_signed_certificate(cert_path: Path, key_path: Path) -> None:
    """A throwaway certificate for 127.0.0.1 (federation peers do not check it)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _hexmac(secret: str, nonce: str, user: str, password: str, admin: bool) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    mac.update(nonce.encode() + b"\x00" + user.encode() + b"\x00" + password.encode() + b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    return mac.hexdigest()
