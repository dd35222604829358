"""Names of minors as public pages show them."""


def mask_name(name: str | None) -> str:
    """张小三 → 张*三, 李四 → 李*, 欧阳小明 → 欧**明; never the full name ("**" when unknown)."""
    name = (name or "").strip()
    if not name:
        return "**"
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
