"""Parent ↔ child links, made by the parent entering the child's short family code."""
