"""The `surveil` command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cameras.credentials import CredentialError
from cameras.urls import redact_url
from index.counters import ensure_counter
from index.db import Database
from index.errors import Conflict, CounterNotFound, InvalidRecord
from index.records import PERMISSIONS, TOKEN_ROLES, USER_ROLES, RetentionPassRecord
from index.users import UserNotFound
from surveil import __version__, export_verify
from surveil.accounts import add_token, add_user, change_password, generate_password, new_token
from surveil.clock import SystemClock
from surveil.config import Config, ConfigError, load_config, parse_config
from surveil.importer import CSV_COLUMNS, import_receipts_csv
from surveil.integrity import run_verify
from surveil.lifecycle import Lifecycle
from surveil.log_key import LogKeyError, open_log_key
from surveil.log_verify import AuditorCheckpoint, IntegrityReport
from surveil.logs import setup_logging
from surveil.passwords import PasswordRejected
from surveil.retention import RetentionPlan
from surveil.service import serve
from surveil.timefmt import iso_from_us
from surveil.transfer import TransferConfigError, Transferrer, open_target, save_credentials
from surveil.volumes import Volumes
from tlog.note import NoteError, NoteVerifier, parse_verifier

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="surveil",
        description="Evidence-grade recorder for acceptance-counter cameras.",
    )
    p.add_argument("--version", action="version", version=f"surveil {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="record a built-in test camera with zero setup")
    demo.add_argument(
        "--data",
        type=Path,
        default=Path("surveil-data"),
        help="data directory (default: ./surveil-data)",
    )
    demo.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT of the web UI")
    demo.add_argument(
        "--segment-seconds",
        type=float,
        default=10.0,
        help="segment length for the demo (default: 10)",
    )

    srv = sub.add_parser("serve", help="run the recorder and web server")
    srv.add_argument("--config", type=Path, required=True, help="TOML config file")

    ver = sub.add_parser(
        "verify",
        help="re-hash the archive, check it against the index and the signed integrity log",
    )
    ver.add_argument(
        "package",
        nargs="?",
        type=Path,
        help="an export package (.zip, or its unzipped folder) to check instead of the archive",
    )
    ver.add_argument("--config", type=Path, help="TOML config file")
    ver.add_argument("--data", type=Path, help="data directory (instead of --config)")
    ver.add_argument(
        "--checkpoint",
        type=Path,
        help="a checkpoint kept elsewhere (an auditor's copy): prove the log was only "
        "appended to since",
    )
    ver.add_argument(
        "--key",
        help="file with the verifier key line to trust (default: the installation's log.key); "
        "for a package also the key line itself",
    )
    ver.add_argument("--json", action="store_true", help="print a machine-readable report")
    ver.add_argument(
        "--central",
        action="store_true",
        help="also download and re-hash every segment confirmed in central storage "
        "([transfer] of the config)",
    )

    tok = sub.add_parser("token", help="manage API tokens")
    tok_sub = tok.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = tok_sub.add_parser("create", help="create an API token; printed on the last line")
    create.add_argument("--config", type=Path, help="TOML config file")
    create.add_argument("--data", type=Path, help="data directory (instead of --config)")
    create.add_argument("--name", required=True, help="what the token is for")
    create.add_argument("--role", required=True, choices=sorted(TOKEN_ROLES))

    usr = sub.add_parser("user", help="manage web accounts")
    usr_sub = usr.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    for action, text in (
        ("add", "create an account (prompts for the password)"),
        ("passwd", "set an account's password and end its sessions"),
    ):
        cmd = usr_sub.add_parser(action, help=text)
        cmd.add_argument("--config", type=Path, help="TOML config file")
        cmd.add_argument("--data", type=Path, help="data directory (instead of --config)")
        cmd.add_argument("username")
        cmd.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of stdin (never from the command "
            "line, where ps would show it)",
        )
        cmd.add_argument(
            "--generate", action="store_true", help="generate a password and print it once"
        )
        if action == "add":
            cmd.add_argument("--role", required=True, choices=sorted(USER_ROLES))
            cmd.add_argument(
                "--counter",
                action="append",
                default=[],
                metavar="CODE",
                help="a counter a staff account may see (repeatable)",
            )
            cmd.add_argument(
                "--permission",
                action="append",
                default=[],
                choices=PERMISSIONS,
                help="a permission granted beside the role: export.review, export.approve "
                "(repeatable; not for auditors)",
            )

    ret = sub.add_parser("retention", help="what the retention policy deletes, and why")
    ret_sub = ret.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    plan = ret_sub.add_parser(
        "plan",
        help="show what a retention pass would delete now, and what it keeps; deletes nothing",
    )
    run = ret_sub.add_parser("run", help="run a retention pass now (audited, like a scheduled one)")
    for cmd in (plan, run):
        cmd.add_argument("--config", type=Path, help="TOML config file")
        cmd.add_argument("--data", type=Path, help="data directory (instead of --config)")
        cmd.add_argument("--json", action="store_true", help="print a machine-readable report")
    plan.add_argument(
        "--limit", type=int, default=20, help="list at most this many segments (default 20)"
    )

    xfer = sub.add_parser("transfer", help="central storage: credentials")
    xfer_sub = xfer.add_subparsers(dest="transfer_command", required=True, metavar="ACTION")
    cred = xfer_sub.add_parser(
        "credentials",
        help="store the S3 access key and secret key, encrypted with data_dir/secret.key; "
        "read from stdin, one per line",
    )
    cred.add_argument("--config", type=Path, help="TOML config file")
    cred.add_argument("--data", type=Path, help="data directory (instead of --config)")

    rec = sub.add_parser("receipts", help="manage receipts")
    rec_sub = rec.add_subparsers(dest="receipts_command", required=True, metavar="ACTION")
    imp = rec_sub.add_parser(
        "import", help="import receipts from a CSV file; one report line per row"
    )
    imp.add_argument("--config", type=Path, help="TOML config file")
    imp.add_argument("--data", type=Path, help="data directory (instead of --config)")
    imp.add_argument(
        "file",
        type=Path,
        metavar="FILE.csv",
        help="UTF-8 CSV with header " + ",".join(CSV_COLUMNS),
    )
    return p


def _config_from(args: argparse.Namespace) -> Config:
    if getattr(args, "config", None) is not None:
        return load_config(args.config)
    if getattr(args, "data", None) is not None:
        return parse_config({"data_dir": str(args.data.resolve())})
    raise ConfigError("give --config FILE or --data DIR")


def demo_central(data: Path) -> Path:
    """The demo's stand-in for central storage: a folder beside its data directory."""
    return data.resolve().parent / f"{data.resolve().name}-central"


def demo_config(args: argparse.Namespace) -> Config:
    return parse_config(
        {
            "data_dir": str(args.data.resolve()),
            "web": {"listen": args.listen},
            "recording": {"segment_seconds": args.segment_seconds},
            "cameras": [{"name": "demo-a01", "url": "synthetic:A01", "counters": ["A01"]}],
            # A folder standing in for the unit's central storage, so the dashboard shows
            # transfer (and retention waiting for it) from the first minute.
            "transfer": {"target": "directory", "path": str(demo_central(args.data))},
        }
    )


async def _create_token(cfg: Config, name: str, role: str) -> str:
    token, digest = new_token()
    db = await Database.open(cfg.effective_database_url)
    try:
        await add_token(db, name, role, digest, SystemClock().now_us())
    finally:
        await db.close()
    return token


# The demo's export workflow needs three people (art. 28): who files, who reviews, who approves.
DEMO_PEOPLE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("clerk", "staff", ()),
    ("reviewer", "staff", ("export.review",)),
    ("approver", "staff", ("export.approve",)),
)


async def _demo_people(cfg: Config) -> dict[tuple[str, str, tuple[str, ...]], str]:
    """The demo's clerk, reviewer and approver of counter A01, made once; their generated
    passwords, to print once."""
    marker = cfg.data_dir / ".demo-people-issued"
    if marker.exists():
        return {}
    out = {}
    db = await Database.open(cfg.effective_database_url)
    try:
        now = SystemClock().now_us()
        # The service links the camera's counter at start; the accounts need it first.
        await db.write(lambda s: ensure_counter(s, "A01", "A01", None, now))
        for name, role, perms in DEMO_PEOPLE:
            pw = generate_password(name)
            await add_user(db, name, pw, role, ["A01"], SystemClock().now_us(), permissions=perms)
            out[(name, role, perms)] = pw
    finally:
        await db.close()
    marker.write_text("the clerk, reviewer and approver passwords were printed once\n")
    return out


async def _demo(cfg: Config) -> None:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    if cfg.transfer.path is not None:
        cfg.transfer.path.mkdir(parents=True, exist_ok=True)
    marker = cfg.data_dir / ".demo-token-issued"
    token = None
    if not marker.exists():
        token = await _create_token(cfg, "demo", "admin")
        marker.write_text("an admin API token was printed once on first start\n")
    account_marker = cfg.data_dir / ".demo-admin-issued"
    password = None
    if not account_marker.exists():
        # No default passwords: a generated one, printed once.
        password = generate_password("admin")
        db = await Database.open(cfg.effective_database_url)
        try:
            await add_user(db, "admin", password, "admin", [], SystemClock().now_us())
        finally:
            await db.close()
        account_marker.write_text("the admin password was printed once on first start\n")
    people = await _demo_people(cfg)

    def ready(url: str) -> None:
        print(f"surveil demo is recording a synthetic counter camera into {cfg.data_dir}")
        print(f"  open: {url}  (sign in as admin)")
        if password:
            print(f"  admin password (shown once): {password}")
        for (name, role, perms), pw in people.items():
            granted = f", {' '.join(perms)}" if perms else ""
            print(f"  {name} ({role} of A01{granted}) password (shown once): {pw}")
        if people:
            print(
                "  an export for a party: the clerk requests it from a receipt's lookup, the "
                "reviewer reviews, the approver approves (docs/guide/exports.md)"
            )
        else:
            print(f"  forgot it? surveil user passwd --data {cfg.data_dir} --generate admin")
        if token:
            print(f"  admin API token (shown once): {token}")
            print(f"  try:  curl -H 'Authorization: Bearer {token}' {url}api/v1/cameras")
            print(
                f"  the signed integrity checkpoint: curl -H 'Authorization: Bearer {token}' "
                f"{url}api/v1/integrity/checkpoint  (check it: docs/guide/verify.md)"
            )
        else:
            print(
                "  create an API token with: surveil token create --data "
                f"{cfg.data_dir} --name me --role admin"
            )
        print(f"  stop with Ctrl-C; then check the archive: surveil verify --data {cfg.data_dir}")
        sys.stdout.flush()

    await serve(cfg, on_ready=ready)


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated): from stdin, generated, or prompted twice on the terminal."""
    if args.generate:
        return generate_password(args.username), True
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to prompt on: use --password-stdin or --generate")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise ConfigError("the two passwords differ")
    return first, False


async def _user_command(cfg: Config, args: argparse.Namespace, password: str) -> str:
    db = await Database.open(cfg.effective_database_url)
    try:
        now = SystemClock().now_us()
        if args.user_command == "add":
            user = await add_user(
                db,
                args.username,
                password,
                args.role,
                args.counter,
                now,
                permissions=args.permission,
            )
            scope = f" for counters {', '.join(user.counters)}" if user.counters else ""
            granted = f", granted {', '.join(user.permissions)}" if user.permissions else ""
            return f"created {user.role} account {user.username!r}{scope}{granted}"
        await change_password(db, args.username, password, now)
        return f"changed the password of {args.username!r}; its sessions were ended"
    finally:
        await db.close()


def _print_verify(report: IntegrityReport) -> None:
    a = report.archive
    print(
        f"segments checked: {a.checked}, ok: {a.ok}, open (being written): {a.open}, "
        f"deleted under retention: {a.deleted}"
    )
    print(
        f"log: {report.log_size} leaves, {report.leaves_checked} checked; "
        f"{report.checkpoints_checked} checkpoints checked"
    )
    for path in a.restored:  # not a failure: the file was put back
        print(f"  intact again: {path}")
    for f in report.all_findings:
        print(f"  {f.kind}: {f.where()}: {f.detail}")
    print("archive is consistent" if report.ok else "ARCHIVE IS NOT CONSISTENT")


def _trusted(cfg: Config, key_file: Path | None) -> tuple[NoteVerifier, ...]:
    if key_file is None:
        try:
            return (open_log_key(cfg.data_dir, create=False).verifier(),)
        except LogKeyError as exc:
            raise ConfigError(f"{exc}; or give the verifier key with --key FILE") from None
    try:
        return (parse_verifier(key_file.read_text(encoding="utf-8").strip()),)
    except (OSError, UnicodeDecodeError, NoteError) as exc:
        raise ConfigError(f"--key {key_file}: not a verifier key line: {exc}") from None


def _verify_package(args: argparse.Namespace) -> int:
    """`surveil verify PACKAGE.zip`: the package's own checks (surveil/export_verify.py,
    the file each package carries as verify.py), printed the same way."""
    if args.config or args.data or args.checkpoint or args.central:
        raise ConfigError(
            "a package is checked on its own: give no --config/--data/--checkpoint/--central"
        )
    report = export_verify.verify_package(args.package, args.key)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        export_verify.print_report(report)
    return EXIT_OK if report.ok else EXIT_FAILED


def _auditor(path: Path | None) -> AuditorCheckpoint | None:
    if path is None:
        return None
    try:
        return AuditorCheckpoint(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--checkpoint {path}: cannot read it: {exc}") from None


async def _verify(
    cfg: Config,
    trusted: tuple[NoteVerifier, ...],
    auditor: AuditorCheckpoint | None,
    central: bool,
) -> IntegrityReport:
    db = await Database.open(cfg.effective_database_url)
    try:
        volumes = Volumes.configured(cfg.data_dir, cfg.storage)
        report = await run_verify(db, volumes, trusted, SystemClock(), auditor=auditor)
        if central:
            if cfg.transfer.target == "none":
                raise ConfigError("--central: the config has no [transfer] target")
            try:
                target = await open_target(cfg.transfer, cfg.data_dir)
            except TransferConfigError as exc:
                raise ConfigError(f"--central: {exc}") from None
            xfer = Transferrer(db, volumes, SystemClock(), cfg.transfer, target)
            try:
                report.findings.extend(await xfer.verify_central())
                report.central_checked = True
            finally:
                await target.close()
        return report
    finally:
        await db.close()


async def _retention(cfg: Config, action: str, limit: int) -> RetentionPlan | RetentionPassRecord:
    db = await Database.open(cfg.effective_database_url)
    try:
        lifecycle = Lifecycle.configured(db, cfg, SystemClock())
        if action == "plan":
            return await lifecycle.retention.plan(limit=limit)
        return await lifecycle.retention.run_pass("manual")
    finally:
        await db.close()


def _pass_json(p: RetentionPassRecord) -> dict[str, object]:
    return {
        "id": p.id,
        "trigger": p.trigger,
        "started": iso_from_us(p.started_us),
        "finished": None if p.finished_us is None else iso_from_us(p.finished_us),
        "deleted": p.deleted,
        "bytes": p.bytes,
        "summary": p.summary,
    }


def _print_plan(plan: RetentionPlan, as_json: bool) -> None:
    cameras = [
        {
            "camera": c.policy.camera,
            "retain_days": c.policy.retain_days,
            "rule": c.policy.source,
            "would_delete": c.eligible,
            "would_delete_bytes": c.eligible_bytes,
            "kept": {k: {"segments": n, "bytes": b} for k, (n, b) in sorted(c.kept.items())},
        }
        for c in plan.cameras
    ]
    first = [
        {"segment": seg.id, "camera": seg.camera, "path": seg.path, "reason": why}
        for seg, why in plan.first
    ]
    if as_json:
        body = {
            "at": iso_from_us(plan.now_us),
            "transfer_required": plan.require_central,
            "would_delete": plan.eligible,
            "would_delete_bytes": plan.eligible_bytes,
            "cameras": cameras,
            "first": first,
        }
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return
    print(f"a pass now would delete {plan.eligible} segments ({plan.eligible_bytes} bytes)")
    for c in cameras:
        kept = ", ".join(f"{k} {v['segments']}" for k, v in c["kept"].items()) or "none"  # type: ignore[attr-defined]
        print(
            f"  {c['camera']}: kept {c['retain_days']} days ({c['rule']}); would delete "
            f"{c['would_delete']}; past that age but kept: {kept}"
        )
    for item in first:
        print(f"  {item['path']} (segment {item['segment']}): {item['reason']}")
    print("nothing was deleted (this is a plan)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            cfg = demo_config(args)
            setup_logging(cfg.log_level)
            asyncio.run(_demo(cfg))
            return EXIT_OK
        if args.command == "verify" and args.package is not None:
            return _verify_package(args)
        cfg = _config_from(args)
        setup_logging(cfg.log_level)
        if args.command == "serve":
            asyncio.run(serve(cfg))
            return EXIT_OK
        if args.command == "verify":
            if not cfg.data_dir.is_dir():
                raise ConfigError(f"data directory {cfg.data_dir} does not exist")
            trusted = _trusted(cfg, None if args.key is None else Path(args.key))
            report = asyncio.run(_verify(cfg, trusted, _auditor(args.checkpoint), args.central))
            if args.json:
                print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
            else:
                _print_verify(report)
            return EXIT_OK if report.ok else EXIT_FAILED
        if args.command == "token" and args.token_command == "create":
            cfg.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                token = asyncio.run(_create_token(cfg, args.name, args.role))
            except (InvalidRecord, Conflict) as e:
                print(f"surveil: {e}", file=sys.stderr)
                return EXIT_FAILED
            print(f"created {args.role} token {args.name!r}; it is shown only now:")
            print(token)
            return EXIT_OK
        if args.command == "user":
            cfg.data_dir.mkdir(parents=True, exist_ok=True)
            password, generated = _read_password(args)
            try:
                print(asyncio.run(_user_command(cfg, args, password)))
            except (PasswordRejected, InvalidRecord, Conflict, CounterNotFound, UserNotFound) as e:
                print(f"surveil: {e}", file=sys.stderr)
                return EXIT_FAILED
            if generated:
                print(f"password (shown only now): {password}")
            return EXIT_OK
        if args.command == "transfer" and args.transfer_command == "credentials":
            cfg.data_dir.mkdir(parents=True, exist_ok=True)
            lines = sys.stdin.read().splitlines()
            if len(lines) < 2 or not lines[0].strip() or not lines[1]:
                raise ConfigError("give the access key and the secret key on stdin, one per line")
            try:
                path = save_credentials(cfg.data_dir, lines[0].strip(), lines[1])
            except (TransferConfigError, CredentialError) as e:
                print(f"surveil: {e}", file=sys.stderr)
                return EXIT_FAILED
            print(f"stored the transfer credentials, encrypted, in {path}")
            return EXIT_OK
        if args.command == "retention":
            if not cfg.data_dir.is_dir():
                raise ConfigError(f"data directory {cfg.data_dir} does not exist")
            if args.retention_command == "plan" and not 1 <= args.limit <= 10_000:
                raise ConfigError("--limit must be between 1 and 10000")
            result = asyncio.run(
                _retention(cfg, args.retention_command, getattr(args, "limit", 20))
            )
            if isinstance(result, RetentionPlan):
                _print_plan(result, args.json)
            elif args.json:
                print(json.dumps(_pass_json(result), ensure_ascii=False, indent=2))
            else:
                print(
                    f"retention pass {result.id}: deleted {result.deleted} segments "
                    f"({result.bytes} bytes)"
                )
            return EXIT_OK
        if args.command == "receipts" and args.receipts_command == "import":
            if not cfg.data_dir.is_dir():
                raise ConfigError(f"data directory {cfg.data_dir} does not exist")
            ok = asyncio.run(import_receipts_csv(cfg, args.file, print))
            return EXIT_OK if ok else EXIT_FAILED
    except ConfigError as e:
        print(f"surveil: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        # A port in use, an unreachable database, a read-only data directory:
        # say what failed without a traceback (and never with a password).
        print(f"surveil: {redact_url(str(e))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
