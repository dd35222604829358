import click
from flask.cli import AppGroup

from app.auth.services import create_staff_user

users_cli = AppGroup("users", help="Manage staff accounts.")


@users_cli.command("create-admin")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="At least 8 characters.")
@click.option("--real-name", default=None, help="Shown in the console.")
def create_admin(name: str, password: str, real_name: str | None) -> None:
    """Create a platform admin who can create top-level regions and region admins."""
    try:
        user = create_staff_user(name, password, real_name, platform_admin=True)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Platform admin {user.username!r} created (id {user.id}).")
