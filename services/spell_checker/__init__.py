"""Spell Checker: corrects one essay per spell-check request and reports every change."""
