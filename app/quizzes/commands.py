import click
from flask.cli import AppGroup

from app.quizzes.services import close_all_expired

quizzes_cli = AppGroup("quizzes", help="Quiz housekeeping.")


@quizzes_cli.command("close-expired")
def close_expired() -> None:
    """Score every attempt left open past its deadline (run every few minutes from cron)."""
    click.echo(f"Scored {close_all_expired()} attempts left open past their deadline.")
