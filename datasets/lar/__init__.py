"""Liquid-argon calorimeter cells at 40 MHz: the shaped pulse of a deposit and its samples."""
