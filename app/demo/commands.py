import click
from flask.cli import AppGroup

from app.demo.seed import demo_password, seed_demo

demo_cli = AppGroup("demo", help="Demo data.")


@demo_cli.command("seed")
def seed() -> None:
    """Load the demo city, schools, people and campaign (once)."""
    summary = seed_demo()
    if summary is None:
        click.echo("Demo data already present; nothing to do.")
        return
    click.echo(
        f"Demo data loaded: {summary['schools']} schools, {summary['classes']} classes, "
        f"{summary['students']} students with parents."
    )
    click.echo(f"Staff logins (password {demo_password()!r}): admin, city_admin, district1_admin, "
               "school1_admin, teacher01 … teacher06, judge01.")
    click.echo("WeChat logins through the stand-in: code test:s01 … test:s60 (students), test:p01 … (parents).")
