"""Users and how they log in: WeChat (participants) and passwords (staff)."""
