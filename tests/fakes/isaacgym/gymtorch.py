"""Fake gymtorch: tensors are passed through as they are."""


def wrap_tensor(tensor):
    return tensor


def unwrap_tensor(tensor):
    return tensor
