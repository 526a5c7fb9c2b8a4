"""Test double of the few Isaac Gym calls the isaacgym backend makes (Isaac Gym cannot be installed in CI).

``simulate`` integrates the DOF state with the torch backend's Lagrangian cart-pole physics, so the backend's
contract (forces, reset, final observation, truncation) can be checked with real numbers.
"""
