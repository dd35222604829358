import click
from flask.cli import AppGroup

from app.media.services import expire_stale_uploads, recheck_pending_media

media_cli = AppGroup("media", help="Uploads and media housekeeping.")


@media_cli.command("cleanup")
def cleanup() -> None:
    """Expire uploads abandoned for a day and delete leftover chunks (run hourly from cron)."""
    result = expire_stale_uploads()
    click.echo(f"Expired {result['expired']} stale uploads; removed {result['orphan_chunks']} orphan chunks.")


@media_cli.command("recheck")
def recheck() -> None:
    """Ask WeChat content security again about media left pending (run from cron)."""
    result = recheck_pending_media()
    click.echo(f"{result['pending']} media pending; {result['asked']} sent to WeChat again.")
