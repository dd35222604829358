"""Campaigns (活动): owned by an org, visible to its subtree, with a window and phases."""
