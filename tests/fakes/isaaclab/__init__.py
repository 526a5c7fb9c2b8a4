"""Test double of the few Isaac Lab calls ``tasks/isaaclab_backend.py`` makes (Isaac Lab cannot be installed here)."""
