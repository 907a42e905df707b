"""Data the tests share: realistic messages and the action each must cause."""
