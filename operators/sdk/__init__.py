"""Shared operator machinery with no knowledge of any one service."""
