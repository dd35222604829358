"""Names of minors as public pages show them."""


def mask_name(name: str | None) -> str:
    """张小三 → 张*三, 李四 → 李*, 欧阳小明 → 欧**明, 阿·木 → 阿*; never the full name ("**" when
    unknown).

    Counted on the letters, not the characters: a separator (the middle dot of minority names,
    the space or hyphen of Latin ones) hides nothing, so 阿·木 kept as first + stars + last would
    show both letters. Two letters show the first; longer names keep the first and last letter
    and star everything between them, separators included."""
    name = (name or "").strip()
    letters = [index for index, ch in enumerate(name) if ch.isalnum()]
    if not letters:
        return "**"
    if len(letters) == 1:
        return "*"
    first, last = letters[0], letters[-1]
    if len(letters) == 2:
        return name[first] + "*"
    return name[first] + "*" * (last - first - 1) + name[last]
