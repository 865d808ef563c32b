"""Objectives by name, as written under ``objectives:`` in a distill config."""

from __future__ import annotations

from fedrobust.registry import Registry

OBJECTIVES: Registry[type] = Registry("distillation objective")
