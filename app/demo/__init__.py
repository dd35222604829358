"""Demo data so the console and the mini-program have something to show."""
