"""Configuration from the environment and an env file, validated once at start.

Secrets may come from files (``BOT_HASH_KEY_FILE``, ``BOT_STORE_KEY_FILE``,
``MATRIX_PASSWORD_FILE``), the container convention. Problems are collected into one
:class:`ConfigError` with a line per key saying what is wrong and how to fix it.
"""

from __future__ import annotations

import base64
import binascii
import os
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.e2ee import saved_session

MIN_HASH_KEY_BYTES = 32
SECRET_FILE_KEYS = ("BOT_HASH_KEY", "BOT_STORE_KEY", "MATRIX_PASSWORD")

HINTS = {
    "MATRIX_HOMESERVER": "set it to your homeserver's URL, e.g. https://matrix.example.org",
    "MATRIX_USER_ID": "set it to the bot's full Matrix ID, e.g. @organizer-bot:example.org",
    "BOT_HASH_KEY": "run `organizer-bot init` to generate one (32+ random bytes, base64)",
    "BOT_STORE_KEY": "run `organizer-bot init` to generate one",
    "BOT_DEFAULT_TIMEZONE": "use an IANA zone name such as UTC or America/New_York",
    "BOT_REBUILD_INTERVAL": "seconds between rebuilds of the member tables, from 60 to 86400 (default 3600: "
                            "hourly; rows keep the order members acted in for up to this long)",
}


# BOT_AWARD_AGENCIES: the awarding sub-agencies USAspending names
AGENCIES = {
    "ICE": "U.S. Immigration and Customs Enforcement",
    "CBP": "U.S. Customs and Border Protection",
    "DHS": "Office of Procurement Operations",  # DHS headquarters' contracting office
}
_UNITS = {"m": 60, "h": 3600, "d": 86400}


def interval_seconds(text: str) -> int | None:
    """``6h``, ``1d``, ``90m`` → seconds; anything else (``off`` included) → None."""
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].isdigit() or len(text) > 6:
        return None
    return int(text[:-1]) * _UNITS[text[-1]]


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True, populate_by_name=True)

    MATRIX_HOMESERVER: str
    MATRIX_USER_ID: str
    MATRIX_PASSWORD: SecretStr | None = None
    MATRIX_ACCESS_TOKEN: SecretStr | None = None
    MATRIX_DEVICE_ID: str | None = None

    BOT_DATA_DIR: Path = Path("./data")
    BOT_HASH_KEY: SecretStr
    BOT_STORE_KEY: SecretStr
    BOT_COMMAND_PREFIX: str = "!"
    BOT_ADMINS: CsvList = Field(default_factory=list)
    BOT_HOME_ROOM: str | None = None
    BOT_COORDINATOR_POWER_LEVEL: int = Field(50, ge=0, le=1_000_000)
    BOT_ALLOWED_SERVERS: CsvList = Field(default_factory=list)
    BOT_REQUIRE_ENCRYPTION: bool = True
    BOT_DEFAULT_TIMEZONE: str = "UTC"
    BOT_DEFAULT_LANGUAGE: Literal["en", "es"] = "en"
    BOT_LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    BOT_LOG_FORMAT: Literal["text", "json"] = "text"

    BOT_TRUST: Literal["tofu", "cross-signed"] = "tofu"
    BOT_REDACT_SENSITIVE: bool = True
    BOT_MIN_CELL: int = Field(5, ge=2, le=1000)
    BOT_TALLY_INTERVAL: int = Field(600, ge=0, description="seconds between refreshes of shown tallies")
    BOT_REMINDER_GRACE: int = Field(3600, ge=0, description="seconds a missed reminder may be late")
    BOT_BROADCAST_ROOMS: CsvList = Field(default_factory=list)
    BOT_RETENTION_DAYS: int = Field(180, ge=1)
    BOT_QUESTION_RETENTION_DAYS: int = Field(
        7, ge=0, le=365, description="days a hotline question's sealed link to its asker is kept after the answer")
    BOT_REBUILD_INTERVAL: int = Field(
        3600, ge=60, le=86400,
        description="seconds between rebuilds of the member tables (their rows' order is reset)")
    BOT_MEMBER_RATE: int = Field(20, ge=1, description="commands per member per minute before throttling")
    BOT_UNDECRYPTABLE_GRACE: int = Field(
        60, ge=0, description="seconds a DM message waits for its room key before the member is told")
    BOT_STAGE_STATS: float = Field(
        0, ge=0, description="seconds between INFO lines of per-stage counts and durations (0: DEBUG, each minute)")
    BOT_ANNOUNCE_DELAY_MIN: int = Field(
        60, ge=0, le=86400, description="fewest seconds between a threshold, close or deadline and its announcement")
    BOT_ANNOUNCE_DELAY_MAX: int = Field(
        300, ge=0, le=86400, description="most seconds between a threshold, close or deadline and its announcement")
    BOT_AWARD_ALERTS: str = Field(
        "1d", description="how often new contract awards are looked up and announced: an interval such as 1d "
                          "or 6h (at least 1h), or off")
    BOT_AWARD_AGENCIES: CsvList = Field(
        default_factory=lambda: ["ICE"], description="whose awards alert the rooms: ICE, CBP, DHS (headquarters)")
    BOT_USASPENDING_URL: str = Field(
        "https://api.usaspending.gov", description="the USAspending API's base URL (a mirror, or a test server)")
    BOT_DIGEST: str = Field(
        "mon 09:00", description="when the coordinators' weekly digest goes to the home room: a weekday and a time "
                                 "in the home room's zone (else BOT_DEFAULT_TIMEZONE), or off")

    @field_validator("BOT_ADMINS", "BOT_ALLOWED_SERVERS", "BOT_BROADCAST_ROOMS", "BOT_AWARD_AGENCIES", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("MATRIX_HOMESERVER")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("MATRIX_USER_ID")
    @classmethod
    def _user_id(cls, value: str) -> str:
        value = value.strip()
        if not (value.startswith("@") and ":" in value and len(value) > 3):
            raise ValueError("must be a full Matrix ID like @bot:example.org")
        return value

    @field_validator("BOT_ADMINS")
    @classmethod
    def _admins(cls, value: list[str]) -> list[str]:
        for item in value:
            if not (item.startswith("@") and ":" in item):
                raise ValueError("each entry must be a full Matrix ID like @alice:example.org")
        return value

    @field_validator("BOT_HOME_ROOM")
    @classmethod
    def _home_room(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        from commands.common.words import ROOM_REF  # the one room-reference rule (the command uses it too)

        if not ROOM_REF.fullmatch(value):
            raise ValueError("must be a room ID like !abc:example.org or an alias like #coordinators:example.org")
        return value

    @field_validator("BOT_HASH_KEY")
    @classmethod
    def _hash_key(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(value.get_secret_value().strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be base64") from None
        if len(raw) < MIN_HASH_KEY_BYTES:
            raise ValueError(f"is {len(raw)} bytes; it must be at least {MIN_HASH_KEY_BYTES} random bytes")
        return value

    @field_validator("BOT_STORE_KEY")
    @classmethod
    def _store_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().strip()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("BOT_DEFAULT_TIMEZONE")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value[:40]!r}") from None
        return value

    @field_validator("BOT_AWARD_ALERTS")
    @classmethod
    def _award_alerts(cls, value: str) -> str:
        value = value.strip().lower()
        seconds = interval_seconds(value)
        if value != "off" and (seconds is None or seconds < 3600):
            raise ValueError("must be an interval of at least 1h such as 6h, 1d or 2d, or off")
        return value

    @field_validator("BOT_DIGEST")
    @classmethod
    def _digest(cls, value: str) -> str:
        from commands.common.weekly import read_weekly  # the one reading of a weekly time

        value = " ".join(value.strip().lower().split())
        if value != "off" and read_weekly(value) is None:
            raise ValueError("must be a weekday and a time such as mon 09:00, or off")
        return value

    @field_validator("BOT_AWARD_AGENCIES")
    @classmethod
    def _agencies(cls, value: list[str]) -> list[str]:
        value = [item.upper() for item in value]
        unknown = [item for item in value if item not in AGENCIES]
        if unknown or not value:
            raise ValueError(f"must name one or more of {', '.join(AGENCIES)} (comma-separated)")
        return value

    @field_validator("BOT_USASPENDING_URL")
    @classmethod
    def _api_base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, e.g. https://api.usaspending.gov")
        return value

    @field_validator("BOT_COMMAND_PREFIX")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or any(ch.isspace() for ch in value) or len(value) > 5:
            raise ValueError("must be 1-5 characters without spaces, e.g. !")
        return value

    @model_validator(mode="after")
    def _login(self) -> Settings:
        if self.MATRIX_PASSWORD is None and self.MATRIX_ACCESS_TOKEN is None:
            if not saved_session.exists(self.BOT_DATA_DIR):
                raise ValueError(
                    "MATRIX_PASSWORD (or MATRIX_PASSWORD_FILE) or MATRIX_ACCESS_TOKEN with MATRIX_DEVICE_ID "
                    "is needed for the first login"
                )
        if self.MATRIX_ACCESS_TOKEN is not None and not self.MATRIX_DEVICE_ID:
            raise ValueError("MATRIX_ACCESS_TOKEN needs MATRIX_DEVICE_ID too")
        if self.BOT_ANNOUNCE_DELAY_MAX < self.BOT_ANNOUNCE_DELAY_MIN:
            raise ValueError(
                f"BOT_ANNOUNCE_DELAY_MAX ({self.BOT_ANNOUNCE_DELAY_MAX}) must be at least "
                f"BOT_ANNOUNCE_DELAY_MIN ({self.BOT_ANNOUNCE_DELAY_MIN})"
            )
        return self

    @property
    def announce_delay(self) -> tuple[int, int]:
        """The window an announcement round is drawn from, in seconds after the news."""
        return self.BOT_ANNOUNCE_DELAY_MIN, self.BOT_ANNOUNCE_DELAY_MAX

    # ------------------------------------------------------------ derived

    @property
    def hash_key(self) -> bytes:
        return base64.b64decode(self.BOT_HASH_KEY.get_secret_value().strip())

    @property
    def store_key(self) -> str:
        return self.BOT_STORE_KEY.get_secret_value().strip()

    @property
    def server_name(self) -> str:
        return self.MATRIX_USER_ID.split(":", 1)[1]

    @property
    def allowed_servers(self) -> list[str]:
        return self.BOT_ALLOWED_SERVERS or [self.server_name]

    @property
    def award_alert_interval(self) -> int | None:
        """Seconds between award look-ups, or None when ``BOT_AWARD_ALERTS=off``."""
        return interval_seconds(self.BOT_AWARD_ALERTS)

    @property
    def db_path(self) -> Path:
        return self.BOT_DATA_DIR / "bot.db"

    @property
    def store_dir(self) -> Path:
        return self.BOT_DATA_DIR / "e2ee"

    def masked(self) -> dict[str, str]:
        """The effective configuration for display, secrets masked."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown[name] = "****** (set)" if value.get_secret_value() else "(empty)"
            elif value is None:
                shown[name] = "(not set)"
            elif isinstance(value, list):
                shown[name] = ",".join(value) or "(none)"
            else:
                shown[name] = str(value)
        return shown


def _environment(env_file: Path | None) -> dict[str, str]:
    """The env file's values overlaid by the process environment; ``*_FILE`` secrets read."""
    values: dict[str, str] = {}
    if env_file is not None:
        if not env_file.exists():
            raise ConfigError([f"env file {env_file}: not found. Create it with `organizer-bot init`."])
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ)
    problems = []
    for key in SECRET_FILE_KEYS:
        path = values.get(key + "_FILE")
        if path and not values.get(key):
            try:
                values[key] = Path(path).read_text().strip()
            except OSError as exc:
                problems.append(f"{key}_FILE: cannot read {path} ({exc.strerror}); point it to a readable file")
    if problems:
        raise ConfigError(problems)
    return values


def load_settings(env_file: Path | None = None) -> Settings:
    """Validate the configuration; raise :class:`ConfigError` with one line per problem."""
    if env_file is None and Path(".env").exists():
        env_file = Path(".env")
    values = _environment(env_file)
    known = {k: v for k, v in values.items() if k in Settings.model_fields}
    try:
        return Settings(**known)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError([_describe(err) for err in exc.errors()]) from None


def _describe(err: Any) -> str:
    key = str(err["loc"][0]) if err["loc"] else ""
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        message = "is required but not set"
    hint = HINTS.get(key)
    if key:
        return f"{key}: {message}" + (f"; {hint}" if hint else "")
    return message
