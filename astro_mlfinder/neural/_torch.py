"""Lazy access to PyTorch.

PyTorch is an optional dependency (``pip install 'astro_mlfinder[neural]'``).
Modules of `astro_mlfinder.neural` that only describe models, registries or
weights import without it; everything that runs a network calls
`require_torch` first, which raises a clear `ImportError` when it is missing.
"""

import importlib

__all__ = ["TORCH_INSTALL_HINT", "require_torch", "torch_available", "resolve_device"]

TORCH_INSTALL_HINT = "pip install 'astro_mlfinder[neural]'"


def torch_available():
    """Return True if PyTorch can be imported."""
    try:
        importlib.import_module("torch")
    except ImportError:
        return False
    return True


def require_torch(what="this function"):
    """Import and return the ``torch`` module.

    Parameters
    ----------
    what : str
        Name of the feature that needs PyTorch, used in the error message.

    Raises
    ------
    ImportError
        If PyTorch is not installed.
    """
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise ImportError(f"{what} needs PyTorch: {TORCH_INSTALL_HINT}") from exc


def resolve_device(device="auto"):
    """Turn ``'auto'``, ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'mps'`` or a `torch.device` into one.

    ``'auto'`` picks CUDA when available, else Apple MPS when available, else the CPU.
    """
    torch = require_torch("device selection")
    if isinstance(device, torch.device):
        return device
    if device is None or str(device).lower() == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(str(device))
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use device='cpu' or 'auto'")
    return dev
