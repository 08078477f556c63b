"""Settings, read once from ``SWITCHOVER_*`` environment variables (and ``.env``)."""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

TASK_QUEUE_WORKFLOWS = "switchover-workflows"
TASK_QUEUE_OCR = "switchover-ocr"
TASK_QUEUE_IO = "switchover-io"


class Settings(BaseSettings):
    """Everything an operator can set. Defaults give the embedded, one-machine stack."""

    model_config = SettingsConfigDict(env_prefix="SWITCHOVER_", env_file=".env", extra="ignore")

    home: Path = Field(
        default=Path(".switchover"), description="state folder of the embedded stack"
    )
    database_url: str | None = Field(
        default=None, description="engine database; default SQLite in the state folder"
    )
    storage_url: str | None = Field(
        default=None, description="file:///path or s3://bucket/prefix; default the state folder"
    )
    s3_endpoint_url: str | None = None
    s3_region: str = "eu-west-2"

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_api_key: str | None = None
    temporal_ui_port: int = 8233

    forms_dir: Path | None = Field(
        default=None, description="extra folder of form templates beside the bundled ones"
    )
    plans_dir: Path | None = Field(
        default=None,
        description="extra folder of migration plans beside the bundled ones (config/plans); "
        "legacy matching finds a form template's `legacy_match.source` system here",
    )
    ocr_workers: int = Field(default_factory=lambda: os.cpu_count() or 1)
    ocr_page_engine: str = Field(default="tesserocr", description="tesserocr | tesseract")
    ocr_field_engine: str = Field(default="tesserocr", description="tesserocr | tesseract")
    ocr_second_engine: str | None = Field(
        default="rapidocr",
        description="engine that reads again the crops the field engine is unsure of or "
        "that look handwritten, to vote with it: rapidocr, or empty for none",
    )
    io_workers: int = 8
    demo_target_url: str = Field(
        default="postgresql+psycopg://postgres@127.0.0.1:5432/switchover_demo",
        description="the modern store `switchover demo` migrates its legacy system into",
    )
    max_image_pixels: int = 120_000_000
    max_pdf_pages: int = 2000
    savings_target_gbp_per_year: Decimal | None = Field(
        default=None, description="the programme's yearly savings target, for the dashboard"
    )
    # --- web app (switchover.web) ---
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    web_secret_key: SecretStr | None = Field(
        default=None,
        description="signs short-lived cookies (sign-in form, single sign-on); the same on "
        "every replica. Default: a random key kept in the state folder",
    )
    web_secure_cookies: bool = Field(
        default=False, description="mark cookies Secure: set when served behind TLS"
    )
    web_session_hours: float = Field(
        default=8.0, description="a session ends this long after sign-in, however busy"
    )
    web_session_idle_minutes: float = Field(
        default=60.0, description="a session ends after this long without a request"
    )
    web_claim_minutes: float = Field(default=30.0, description="a caseworker's claim on a task")
    web_max_sign_in_failures: int = Field(
        default=5,
        description="failed sign-ins to one username from one client before its further "
        "tries there wait (the account stays open to its owner elsewhere)",
    )
    web_client_sign_in_failures: int = Field(
        default=20,
        description="failed sign-ins from one client, whatever the usernames, before its "
        "tries wait (slows one password sprayed across many usernames)",
    )
    web_sign_in_first_wait_seconds: float = Field(
        default=30.0, description="the first wait; it doubles at each further failure"
    )
    web_lockout_minutes: float = Field(default=15.0, description="the longest a sign-in waits")
    web_sign_in_forget_minutes: float = Field(
        default=60.0, description="failures older than this no longer count"
    )
    web_assets_dir: Path | None = Field(
        default=None, description="node_modules holding govuk-frontend; default the repository's"
    )
    # Optional single sign-on (OpenID Connect). Roles come from a claim of the ID token.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid profile email"
    oidc_roles_claim: str = "roles"
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict,
        description="claim value -> role (JSON); a value that is a role's name maps to it",
    )
    oidc_username_claim: str = "preferred_username"
    oidc_token_auth: str = Field(
        default="client_secret_basic",
        description="how the service proves itself at the token endpoint: client_secret_basic "
        "| private_key_jwt (a client assertion signed with SWITCHOVER_OIDC_PRIVATE_KEY_FILE)",
    )
    oidc_private_key_file: Path | None = Field(
        default=None,
        description="PEM private key (RSA, or EC P-256/P-384) that signs client assertions "
        "and request objects; its public half is at /sign-in/sso/jwks.json",
    )
    oidc_private_key_id: str | None = Field(
        default=None, description="the key's `kid`; default its RFC 7638 thumbprint"
    )
    oidc_signed_request: bool = Field(
        default=False, description="send the authorisation request as a signed request object"
    )
    oidc_request_audience: str | None = Field(
        default=None,
        description="`aud` of the request object; default the issuer (GOV.UK One Login: its "
        "/authorize URL)",
    )
    oidc_vtr: str | None = Field(
        default=None,
        description='vectors of trust to ask for, e.g. ["Cl.Cm"]; the ID token\'s `vot` must '
        "be one of them",
    )
    oidc_ui_locales: str | None = Field(default=None, description="e.g. en or cy")

    # --- delivery of approved records, notifications (docs/delivery.md) ---
    delivery_webhook_secret: SecretStr | None = Field(
        default=None,
        description="signs webhook deliveries (HMAC-SHA256); needed by any "
        "template that delivers to a webhook",
    )
    delivery_max_attempts: int = Field(
        default=8, ge=1, description="attempts at one delivery before it is dead-lettered"
    )
    notify_api_key: SecretStr | None = Field(
        default=None, description="GOV.UK Notify API key; unset: no notifications are sent"
    )
    notify_base_url: str = "https://api.notifications.service.gov.uk"
    notify_email_to: str | None = Field(
        default=None, description="the team mailbox notifications go to"
    )
    notify_template_review_overdue: str | None = None
    notify_template_gate_failed: str | None = None
    notify_template_approval_waiting: str | None = None
    notify_template_checklist_stale: str | None = None
    public_url: str | None = Field(
        default=None, description="the web app's address as people reach it, for links"
    )

    # --- privacy and identity (switchover.codec, switchover.identity) ---
    payload_keys: SecretStr | None = Field(
        default=None,
        description="keys that encrypt Temporal payloads: `id:base64key,...` (AES-128/192/256); "
        "the first encrypts, every one decrypts, so rotation is adding a key in front. "
        "Default: a key kept in the state folder (one machine only)",
    )
    temporal_ui_origin: str | None = Field(
        default=None,
        description="the Temporal UI's origin allowed to call the web app's /codec endpoint "
        "(CORS); default http://localhost:<temporal_ui_port>",
    )
    token: SecretStr | None = Field(
        default=None, description="the personal token the CLI acts with (switchover users token)"
    )
    token_file: Path | None = Field(
        default=None, description="a file holding the personal token, instead of SWITCHOVER_TOKEN"
    )
    audit_head_retention_days: int = Field(
        default=2557,
        ge=1,
        description="how long each exported audit head is locked (S3 Object Lock), in days",
    )
    token_days: int = Field(default=90, ge=1, description="a new personal token's lifetime")

    # --- mailroom intake (switchover.intake) ---
    intake_sources: list[str] = Field(
        default_factory=list,
        description="what the worker watches (JSON list): folders, s3://bucket/prefix, "
        "imaps://user@host/Folder; empty: nothing",
    )
    intake_poll_seconds: float = Field(default=10.0, description="seconds between polls")
    intake_max_mb: int = Field(
        default=100, description="a file larger than this is quarantined, not read"
    )
    intake_imap_password: SecretStr | None = Field(
        default=None, description="the password of the mailbox an imap(s):// source names"
    )

    log_level: str = "INFO"
    log_format: str = Field(default="auto", description="auto | console | json")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'switchover.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return (self.home / "objects").resolve().as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
