"""Test double of the Isaac Lab 2.x calls ``tasks/isaaclab_backend.py`` makes (2.x runs only inside Isaac Sim, which
cannot be installed here; Isaac Lab 3 itself is tested for real in ``tests/tasks/test_isaaclab_real.py``). Its
package metadata (``isaaclab-2.3.2.post1.dist-info`` beside it) says 2.3.2.post1, the last 2.x release."""
