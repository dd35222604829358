"""The org tree (region → school → class), memberships, invites and the permission rules."""
