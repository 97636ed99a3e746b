"""The Septum language grammar (package data: septum.lark)."""
